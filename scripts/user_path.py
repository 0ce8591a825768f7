#!/usr/bin/env python3
# The path users take, measured in one run: a full-size photo posted to a running `facelens serve`
# (/v1/embed as multipart, JSON base64 and a raw image body, one keep-alive connection, 2 warm-ups)
# against the pipeline alone (`facelens bench --services pipeline` on the same photo).
#   python3 scripts/user_path.py build/facelens ../shared/data/faces/face_recognition/obama3.jpg 20
# Prints the p50/min per way (or the HTTP error a way gets) and the pipeline's p50. CPU only.
import base64, http.client, json, os, socket, statistics, subprocess, sys, tempfile, time
if len(sys.argv) != 4:
    sys.exit('usage: user_path.py FACELENS PHOTO N')
bin_, photo, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
img = open(photo, 'rb').read()
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
log = open(os.path.join(tempfile.gettempdir(), 'facelens-user-path-server.log'), 'w')
p = subprocess.Popen([bin_, 'serve', '--port', str(port), '--no-gallery', '--provider', 'cpu', '--threads', '2'], stdout=log, stderr=log)
try:
    for _ in range(200):
        try:
            c = http.client.HTTPConnection('127.0.0.1', port); c.request('GET', '/ready'); r = c.getresponse(); r.read()
            if r.status == 200: break
        except OSError: pass
        time.sleep(0.1)
    b = 'facelensboundary'
    mp = (f'--{b}\r\nContent-Disposition: form-data; name="image"; filename="p.jpg"\r\nContent-Type: image/jpeg\r\n\r\n').encode() + img + f'\r\n--{b}--\r\n'.encode()
    js = json.dumps({'image': base64.b64encode(img).decode()}).encode()
    kinds = {'multipart': (mp, 'multipart/form-data; boundary=' + b), 'json': (js, 'application/json'), 'raw': (img, 'image/jpeg')}
    c = http.client.HTTPConnection('127.0.0.1', port)
    times = {k: [] for k in kinds}; status = {}
    for i in range(n + 2):
        for k, (body, ct) in kinds.items():
            t = time.perf_counter(); c.request('POST', '/v1/embed', body=body, headers={'Content-Type': ct}); r = c.getresponse(); data = r.read(); dt = (time.perf_counter() - t) * 1000
            status[k] = (r.status, data[:120])
            if i >= 2: times[k].append(dt)
    for k in kinds:
        st = status[k]
        if st[0] == 200: print(f'{k}: p50 {statistics.median(times[k]):.1f} ms, min {min(times[k]):.1f} ms (n={n}, {len(kinds[k][0])} bytes sent)')
        else: print(f'{k}: HTTP {st[0]} {st[1]!r}')
finally:
    p.terminate(); p.wait()
out = tempfile.mkdtemp()
r = subprocess.run([bin_, 'bench', '--image', photo, '--providers', 'cpu', '--services', 'pipeline', '--batch', '1', '--iterations', str(n), '--threads', '2', '--output', out], capture_output=True, text=True)
res = json.load(open(out + '/results.json'))
for row in res['results']:
    print(f"pipeline alone (facelens bench, decoded image, {row['iterations']} runs): p50 {row['latency_ms']['p50']:.1f} ms")
