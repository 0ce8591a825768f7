-- The facelens database and its role, on Debian's PostgreSQL 15 (postgresql.service):
--   apt-get install postgresql
--   pw=$(openssl rand -hex 24)
--   runuser -u postgres -- psql -v ON_ERROR_STOP=1 -v password="$pw" -f setup.sql
--   echo "PGPASSWORD=$pw"    # into /etc/facelens/facelens.env
-- facelens creates and migrates its own tables at start (under an advisory lock: replicas starting at once migrate
-- once), so the role owns the database and needs no other privilege.
CREATE ROLE facelens LOGIN PASSWORD :'password';
CREATE DATABASE facelens OWNER facelens ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE facelens FROM PUBLIC;
