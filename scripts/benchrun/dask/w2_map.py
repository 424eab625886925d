# W2 in Dask: a task returns 100,000 ints, a task per int adds one, and a
# last task sums them (flows/bench/w2_map.star), run by Dask's threaded
# scheduler from a plain task dict (dask.threaded.get). Dask needs the
# number of mapped tasks when the graph is made, so the script knows it;
# each mapped task takes its int from the first task's list.
from operator import getitem

from dask.threaded import get

N = 100000


def numbers():
    return list(range(N))


def inc(xs, i):
    return getitem(xs, i) + 1


def total(*xs):
    return sum(xs)


dsk = {"numbers": (numbers,)}
keys = []
for i in range(N):
    k = "inc-%d" % i
    dsk[k] = (inc, "numbers", i)
    keys.append(k)
dsk["total"] = (total,) + tuple(keys)
assert get(dsk, "total") == N * (N + 1) // 2
