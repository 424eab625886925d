# W3 in Dask: 100 layers of 100 tasks, each taking two results of the
# layer before (flows/bench/w3_layers.star), run by Dask's threaded
# scheduler from a plain task dict (dask.threaded.get).
from dask.threaded import get

LAYERS = 100
WIDTH = 100


def seed(i):
    return i


def combine(a, b):
    return (a + b) % 1000


dsk = {("c", 0, i): (seed, i) for i in range(WIDTH)}
for l in range(1, LAYERS):
    for i in range(WIDTH):
        dsk[("c", l, i)] = (combine, ("c", l - 1, i), ("c", l - 1, (i + 1) % WIDTH))
out = get(dsk, [("c", LAYERS - 1, i) for i in range(WIDTH)])
assert len(out) == WIDTH
