#!/usr/bin/env python3
# The path users take, measured in one run: full-size photos posted to a running `facelens serve`
# (/v1/embed as multipart, JSON base64 and a raw image body, one keep-alive connection, 2
# warm-ups) against the pipeline alone (`facelens bench --services pipeline --batch 1`, file bytes
# to embedding, same intra-op threads), in ROUNDS alternating rounds (service, then pipeline) so
# that a busy moment of the shared machine hits both. The HTTP overhead is service p50 - pipeline
# p50, also as a share of the pipeline's p50 (issue 17: at most 15 %).
#   python3 scripts/user_path.py build/facelens ../shared/data/faces/face_recognition/obama3.jpg 20
#   python3 scripts/user_path.py build/facelens PHOTO1 PHOTO2 20 [--rounds 3] [--threads 2]
# Prints per photo and way: p50/min (or the HTTP error a way gets), the pipeline's p50, the
# overhead. CPU only.
import argparse, base64, http.client, json, os, socket, statistics, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser(description='HTTP overhead of facelens serve against the pipeline alone')
ap.add_argument('facelens')
ap.add_argument('args', nargs='+', help='PHOTO [PHOTO ...] N (requests per way and round)')
ap.add_argument('--rounds', type=int, default=4)
ap.add_argument('--threads', type=int, default=2, help='ONNX Runtime intra-op threads, server and bench alike')
a = ap.parse_args()
if len(a.args) < 2 or not a.args[-1].isdigit():
    sys.exit('usage: user_path.py FACELENS PHOTO [PHOTO ...] N [--rounds R] [--threads T]')
photos, n = a.args[:-1], int(a.args[-1])
TYPES = {'.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.png': 'image/png', '.webp': 'image/webp', '.bmp': 'image/bmp'}


def bodies(photo):
    img = open(photo, 'rb').read()
    ctype = TYPES.get(os.path.splitext(photo)[1].lower(), 'image/jpeg')
    b = 'facelensboundary'
    mp = (f'--{b}\r\nContent-Disposition: form-data; name="image"; filename="p"\r\nContent-Type: {ctype}\r\n\r\n').encode() + img + f'\r\n--{b}--\r\n'.encode()
    js = json.dumps({'image': base64.b64encode(img).decode()}).encode()
    return {'multipart': (mp, 'multipart/form-data; boundary=' + b), 'json': (js, 'application/json'), 'raw': (img, ctype)}


def serve_round(port, kinds, times, status):
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
    for i in range(n + 2):
        for k, (body, ct) in kinds.items():
            t = time.perf_counter()
            c.request('POST', '/v1/embed', body=body, headers={'Content-Type': ct})
            r = c.getresponse()
            data = r.read()
            dt = (time.perf_counter() - t) * 1000
            status[k] = (r.status, data[:160])
            if i >= 2 and r.status == 200:
                times[k].append(dt)
    c.close()


def pipeline_samples(photo):
    out = tempfile.mkdtemp()
    r = subprocess.run([a.facelens, 'bench', '--image', photo, '--providers', 'cpu', '--services', 'pipeline', '--batch', '1',
                        '--iterations', str(n), '--threads', str(a.threads), '--output', out], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit('facelens bench failed: ' + r.stderr[-2000:])
    rows = json.load(open(out + '/results.json'))['results']
    return rows[0]['samples_ms']


s = socket.socket(); s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]; s.close()
log = open(os.path.join(tempfile.gettempdir(), 'facelens-user-path-server.log'), 'w')
server = [a.facelens, 'serve', '--port', str(port), '--no-gallery', '--provider', 'cpu', '--threads', str(a.threads)]
p = subprocess.Popen(server, stdout=log, stderr=log)
per_photo = {photo: bodies(photo) for photo in photos}
times = {photo: {k: [] for k in per_photo[photo]} for photo in photos}
status = {photo: {} for photo in photos}
pipes = {photo: [] for photo in photos}
round_p50 = {photo: [] for photo in photos}  # per round: ({kind: p50}, pipeline p50), to show the spread
try:
    for _ in range(200):
        try:
            c = http.client.HTTPConnection('127.0.0.1', port); c.request('GET', '/ready'); r = c.getresponse(); r.read()
            if r.status == 200: break
        except OSError: pass
        time.sleep(0.1)
    for rnd in range(a.rounds):
        for photo in photos:
            t = {k: [] for k in per_photo[photo]}
            serve_round(port, per_photo[photo], t, status[photo])
            for k in t: times[photo][k] += t[k]
            samples = pipeline_samples(photo)
            pipes[photo] += samples
            round_p50[photo].append(({k: statistics.median(v) if v else float('nan') for k, v in t.items()},
                                     statistics.median(samples)))
finally:
    p.terminate(); p.wait()

print(f'server: {" ".join(server)}; pipeline: facelens bench --services pipeline --batch 1 --threads {a.threads}; '
      f'{a.rounds} rounds x {n} requests per way')
for photo in photos:
    pipe, pipe_min = statistics.median(pipes[photo]), min(pipes[photo])
    print(f'{os.path.basename(photo)}: pipeline alone p50 {pipe:.1f} ms, min {pipe_min:.1f} ms '
          f'(round p50s: {", ".join(f"{pp:.1f}" for _, pp in round_p50[photo])})')
    for k, (body, _) in per_photo[photo].items():
        st = status[photo][k]
        if st[0] != 200 or not times[photo][k]:
            print(f'  {k}: HTTP {st[0]} {st[1]!r}')
            continue
        p50, low = statistics.median(times[photo][k]), min(times[photo][k])
        per_round = [rp[k] - pp for rp, pp in round_p50[photo]]
        print(f'  {k:9s}: p50 {p50:.1f} ms, min {low:.1f} ms ({len(body)} bytes sent); HTTP overhead at p50 '
              f'{p50 - pipe:+.1f} ms = {100 * (p50 - pipe) / pipe:+.1f} % of the pipeline, at min {low - pipe_min:+.1f} ms = '
              f'{100 * (low - pipe_min) / pipe_min:+.1f} % (per round, p50: {", ".join(f"{x:+.1f}" for x in per_round)} ms)')
