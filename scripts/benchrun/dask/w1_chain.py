# W1 in Dask: a chain of 1,000 tasks, each taking the previous result
# (flows/bench/w1_chain.star), run by Dask's threaded scheduler. The graph
# is a plain task dict given to dask.threaded.get: the scheduler's own cost,
# without dask.delayed's graph merging (which is slower to build).
from dask.threaded import get


def start():
    return 0


def step(x):
    return x + 1


dsk = {"s0": (start,)}
for i in range(1, 1000):
    dsk["s%d" % i] = (step, "s%d" % (i - 1))
assert get(dsk, "s999") == 999
