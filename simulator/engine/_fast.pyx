# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
# cython: nonecheck=False, infer_types=False
"""The compiled engine: the same semantics as `core`, `stations`, `buffers`, `arrivals` and `request`, event for
event and draw for draw, in C (built from this file by Cython when the package is installed; `fast.py` says when it
is used).

What differs is only how the state is held:

* the calendar is a binary heap of C structs `(time, eid, kind, target, req)` ordered by `(time, eid)`, the same
  total order as the pure engine's tuples, with ids from one counter shared with SimPy's events (`FastClock`);
* a request is a C struct in blocks that never move, recycled through a free list, and a station's queue is a ring
  of request indices: no Python object per request or per event;
* a route is a table of hops (station, exit, branch, mark) walked by one function.

Random draws are the pure engine's: service times and inter-arrival gaps come from the same samplers' blocks,
consumed from the end as `list.pop()` does; routing, error and write-failure draws call the same `random.Random`.
Error curves, slowdowns and retry backoffs call the model's own methods (once per grid mark or retry).
The arithmetic is the pure engine's, operation for operation, so the results are the same to the last bit
(`tests/simulator/test_fast_engine.py` holds every pinned digest to both engines).
"""

from cpython cimport array
from cpython.object cimport Py_SIZE
from libc.math cimport floor, log, log1p, sqrt, INFINITY, NAN
from libc.stdlib cimport malloc, realloc, free

import math

from ..distributions import BLOCK, ServiceSampler
from .incidents import source_segments, station_targets
from .breaker import CircuitBreaker
from .retry import gate_for

cdef enum:
    EV_DONE = 0      # station `target` ends the service of `req`
    EV_ADMIT = 1     # queue `target`'s write of `req` ends
    EV_REENTER = 2   # `req` re-enters buffer `target` after a retry's backoff
    EV_FIRE = 3      # source `target`'s next arrival
    EV_SIMPY = 4     # a SimPy event's marker
    EV_CALL = 5      # a Python call `handler(obj, time)` scheduled with `at`
    EV_DEADLINE = 6  # station `target`'s caller deadline on `req` passes (if it still runs)

cdef enum:
    K_PLAIN = 0
    K_CURVE = 1
    K_FULL = 2
    K_BUFFER = 3
    K_ENQUEUE = 4

cdef enum:
    H_NODE = 0
    H_EXIT = 1
    H_BRANCH = 2
    H_MARK = 3
    H_SCOPE = 4    # before a buffer or an exit in a network with deadlines: the deadline's scope ends (`ScopeEnd`)
    H_DISCARD = 5  # where an abandoned copy's work ends (`Discard`)

DEF BLOCK_BITS = 12
DEF REQ_BLOCK = 4096
DEF MARKS = 16
DEF NO_ERROR = 4611686018427387904  # 1 << 62

cdef struct Entry:
    double time
    long long eid
    int kind
    int target
    int req

cdef struct Req:
    double entered_at
    double arrived_at
    double service_started_at
    int source
    int stat  # its stats in Core.all_stats: its source's, or its source's for the window it arrived in
    int holder
    int attempts
    int last_station
    int steps_done
    int next_free
    bint counted
    bint acked
    bint cut_off
    bint met_error
    bint ghost  # the abandoned copy a deadline left behind: it counts nowhere
    int deadline_node
    double deadline_at  # INFINITY: none runs; -INFINITY: a ghost, never timed again

cdef struct Hop:
    int kind
    int idx      # H_NODE: the station; H_EXIT: the station left from
    int step     # H_MARK
    int target   # H_MARK: the hop after the mark
    int b0       # H_BRANCH: first of its cumulative probabilities and targets
    int bn       # H_BRANCH: how many


cdef inline void push_double(array.array a, double x):
    cdef Py_ssize_t n = Py_SIZE(a)
    array.resize_smart(a, n + 1)
    a.data.as_doubles[n] = x


cdef inline void record_visit(FastNode node, Req* q, double now) except *:
    """A station's completed visit: its wait (zero waits counted, not stored) and sojourn, or a warm-up visit."""
    if q.counted:
        if q.service_started_at == q.arrived_at:
            node.no_wait += 1
        else:
            push_double(node.waits, q.service_started_at - q.arrived_at)
        push_double(node.sojourns, now - q.arrived_at)
    else:
        node.warm_done += 1


cdef class Draws:
    """A sampler's blocks, consumed from the end (as `list.pop()` consumes the pure engine's)."""
    cdef double* buf
    cdef Py_ssize_t n
    cdef Py_ssize_t size
    cdef object draw

    def __cinit__(self, object draw):
        self.draw = draw
        self.buf = NULL
        self.n = 0
        self.size = 0

    def __dealloc__(self):
        free(self.buf)

    cdef double refill(self) except? -1.0:
        cdef list block = self.draw()
        cdef Py_ssize_t k, m = len(block)
        if m > self.size:
            self.buf = <double*> realloc(self.buf, m * sizeof(double))
            if self.buf == NULL:
                raise MemoryError()
            self.size = m
        for k in range(m):
            self.buf[k] = block[k]
        self.n = m - 1
        return self.buf[m - 1]

    cdef inline double next(self) except? -1.0:
        if self.n == 0:
            return self.refill()
        self.n -= 1
        return self.buf[self.n]


cdef class FastStats:
    """A source's counters and latency samples (past the warm-up): what `arrivals.SourceStats` holds."""
    cdef public str name
    cdef public long arrivals, acked, retries, unfinished, unfinished_acked, timeouts, met_error_ok
    cdef public long dead_lettered, duplicates
    cdef public long n_error, n_failed, n_dropped
    cdef public int need
    cdef public double deadline
    cdef public list leaks, exits
    cdef public array.array accept, settle, sojourn

    def __init__(self, str name, int n_stations, int need=0, deadline=None):
        self.name = name
        self.need = need
        self.unfinished_acked = 0
        self.deadline = INFINITY if deadline is None else deadline
        self.timeouts = 0
        self.leaks = [[0] * max(1, need) for _ in range(n_stations)]
        self.met_error_ok = 0
        self.arrivals = 0
        self.acked = 0
        self.n_error = self.n_failed = self.n_dropped = 0
        self.accept = array.array("d")
        self.settle = array.array("d")
        self.sojourn = array.array("d")
        self.exits = [array.array("d") for _ in range(n_stations)]
        self.retries = 0
        self.unfinished = 0
        self.dead_lettered = self.duplicates = 0

    @property
    def outcomes(self):
        return {"error": self.n_error, "failed": self.n_failed, "dropped": self.n_dropped}

    def counts(self):
        return {"completed": len(self.sojourn), "settled": len(self.settle), "error": self.n_error,
                "failed": self.n_failed, "dropped": self.n_dropped}

    def close(self):
        """At the horizon: what is still in the network counts as dropped (acknowledged) or as an error."""
        cdef long finished = len(self.sojourn) + self.n_error + self.n_failed + self.n_dropped
        self.unfinished = self.arrivals - finished
        self.unfinished_acked = self.acked - len(self.settle) - self.n_failed - self.n_dropped
        self.n_dropped += self.unfinished_acked
        self.n_error += self.unfinished - self.unfinished_acked


cdef class FastNode:
    """A station or buffer at run time; the attributes the observer reads are public, as on `stations.Node`."""
    cdef public str name
    cdef public object spec
    cdef public int idx, kind
    cdef public double servers
    cdef public long busy
    cdef public long arrivals_counted, rejected, errors, max_queue, warm_done, no_wait
    cdef public long recovered, exhausted, surfaced, lost, counted_rejected
    cdef public long reentries  # retries that came back (first arrivals = arrivals_counted - reentries)
    cdef public long abandoned  # requests whose caller's deadline set here passed
    cdef double deadline  # the station's caller deadline (INFINITY: none)
    cdef bint cancel  # on_deadline "cancel"
    cdef public object gate  # the retry policy's jitter and budget (retry.RetryGate), None without them
    cdef public object breaker  # a buffer's circuit breaker (breaker.CircuitBreaker), None without one
    cdef public long dead_letters, duplicates
    cdef public bint dead_letter, idempotent
    cdef double after_work
    cdef public double busy_area, changed_at
    cdef public array.array waits, sojourns
    cdef public tuple at_last_snapshot
    # an incident's run-time state (`incidents`), honoured by a full station (K_FULL) only
    cdef public double open_servers, latency_factor, error_floor
    cdef public bint down
    cdef long capacity  # -1: none
    cdef Draws draws
    cdef Draws put_draws
    cdef double put_error
    cdef double cutoff, base_error
    cdef object curve, slowdown, retry, rand
    cdef bint check_errors, tracked, acknowledge, instant, dispatching, has_retry
    cdef long max_attempts
    cdef double p_error, window, mark_step, next_mark, window_utilization, slow_factor
    cdef long long successes_left
    cdef double mark_t[MARKS + 1]
    cdef double mark_a[MARKS + 1]
    cdef int mark_head, mark_len
    # the queue: a ring of request indices
    cdef int* ring
    cdef Py_ssize_t ring_cap, ring_head, ring_len

    def __dealloc__(self):
        free(self.ring)

    def area_at(self, double now):
        """Busy-server time integrated up to `now`."""
        return self.busy_area + self.busy * (now - self.changed_at)

    @property
    def queued(self):
        """Requests waiting (not in service)."""
        return self.ring_len

    @property
    def completions(self):
        return len(self.sojourns) + self.warm_done

    @property
    def arrivals(self):
        if self.kind == K_PLAIN or self.kind == K_CURVE:
            return len(self.sojourns) + self.warm_done + self.busy + self.ring_len
        return self.arrivals_counted

    def all_waits(self):
        import numpy as np
        waits = np.asarray(self.waits, dtype=float)
        return np.concatenate((np.zeros(self.no_wait), waits)) if self.no_wait else waits

    cdef inline void q_push(self, int r) except *:
        cdef int* ring
        cdef Py_ssize_t k, cap
        if self.ring_len == self.ring_cap:
            cap = self.ring_cap * 2 if self.ring_cap else 64
            ring = <int*> malloc(cap * sizeof(int))
            if ring == NULL:
                raise MemoryError()
            for k in range(self.ring_len):
                ring[k] = self.ring[(self.ring_head + k) % self.ring_cap]
            free(self.ring)
            self.ring = ring
            self.ring_cap = cap
            self.ring_head = 0
        self.ring[(self.ring_head + self.ring_len) % self.ring_cap] = r
        self.ring_len += 1
        if self.ring_len > self.max_queue:
            self.max_queue = self.ring_len

    cdef inline int q_pop(self):
        cdef int r = self.ring[self.ring_head]
        self.ring_head += 1
        if self.ring_head == self.ring_cap:
            self.ring_head = 0
        self.ring_len -= 1
        return r

    cdef long long successes_before_error(self) except? -1:
        cdef double p = self.p_error
        if p <= 0.0:
            return NO_ERROR
        if p >= 1.0:
            return 0
        cdef double u = self.rand()
        cdef double run = log(1.0 - u) / log1p(-p)
        if run >= 4.0e18:  # more visits than any run makes: never an error (the pure engine's int is as good)
            return NO_ERROR
        return <long long> run

    cdef void mark(self, double now) except *:
        """`Node._mark`: the busy area at every grid point passed, then the windowed utilization and what follows."""
        cdef double mark = self.next_mark, step = self.mark_step
        cdef double area = self.busy_area, since = self.changed_at
        cdef double busy = self.busy
        cdef int last, first
        if now - mark > self.window:
            mark += floor((now - self.window - mark) / step) * step
        while now >= mark:
            # a deque of MARKS + 1: append, the oldest falls out
            if self.mark_len == MARKS + 1:
                self.mark_head = (self.mark_head + 1) % (MARKS + 1)
                self.mark_len -= 1
            last = (self.mark_head + self.mark_len) % (MARKS + 1)
            self.mark_t[last] = mark
            self.mark_a[last] = area + busy * (mark - since)
            self.mark_len += 1
            mark += step
        self.next_mark = mark
        first = self.mark_head
        last = (self.mark_head + self.mark_len - 1) % (MARKS + 1)
        cdef double u = (self.mark_a[last] - self.mark_a[first]) / (self.servers * (self.mark_t[last] - self.mark_t[first]))
        self.window_utilization = u
        cdef double p
        if self.slowdown is not None:
            self.slow_factor = self.slowdown.multiplier(u)
        if self.curve is not None:
            p = self.curve.probability(u)
            if p < self.error_floor:
                p = self.error_floor
            if p != self.p_error:
                self.p_error = p
                self.successes_left = self.successes_before_error()


cdef class ArrivalSource:
    """A Poisson source with a piecewise-linear rate (`arrivals.ArrivalProcess`)."""
    cdef public object spec, stats
    cdef int idx, entry
    cdef object rng
    cdef double* exp
    cdef Py_ssize_t nexp
    cdef double end
    cdef double* seg_a
    cdef double* seg_b
    cdef double* seg_r
    cdef double* seg_s
    cdef int nseg, seg
    cdef double flat_a, flat_b, flat_r
    cdef int* route  # hop per station

    def __dealloc__(self):
        free(self.exp)
        free(self.seg_a)
        free(self.seg_b)
        free(self.seg_r)
        free(self.seg_s)
        free(self.route)

    cdef double next_exp(self) except? -1.0:
        cdef Py_ssize_t k
        cdef list block
        if self.nexp == 0:
            block = self.rng.standard_exponential(BLOCK).tolist()
            for k in range(BLOCK):
                self.exp[k] = block[k]
            self.nexp = BLOCK - 1
            return self.exp[BLOCK - 1]
        self.nexp -= 1
        return self.exp[self.nexp]

    cdef void cache_segment(self):
        if self.seg < self.nseg and self.seg_s[self.seg] == 0.0:
            self.flat_a = self.seg_a[self.seg]
            self.flat_b = self.seg_b[self.seg]
            self.flat_r = self.seg_r[self.seg]
        else:
            self.flat_a = INFINITY
            self.flat_b = INFINITY
            self.flat_r = 1.0

    cdef double invert(self, double now, double work):
        cdef int seg = self.seg
        cdef double t = now, a, b, r0, slope, r, x, area, disc
        while seg < self.nseg:
            a = self.seg_a[seg]
            b = self.seg_b[seg]
            r0 = self.seg_r[seg]
            slope = self.seg_s[seg]
            if t < a:
                t = a
            if t < b:
                r = r0 + slope * (t - a)
                x = b - t
                area = r * x if slope == 0.0 else r * x + 0.5 * slope * x * x  # a last flat piece may be endless
                if work <= area:
                    self.seg = seg
                    if slope == 0.0:
                        return t + work / r
                    disc = r * r + 2.0 * slope * work
                    if disc < 0.0:
                        disc = 0.0
                    return t + 2.0 * work / (r + sqrt(disc))
                work -= area
            seg += 1
        self.seg = seg
        return INFINITY

    cdef double next_time(self, double now, double work):
        if self.flat_a <= now and work <= self.flat_r * (self.flat_b - now):
            return now + work / self.flat_r
        cdef double t = self.invert(now, work)
        self.cache_segment()
        return t


cdef class Core:
    """The run's state and a request's life (`core.Simulation`'s hot half), on a C calendar."""
    cdef Entry* heap
    cdef Py_ssize_t heap_len, heap_cap
    cdef public long long next_eid
    cdef public long long events  # processed so far (the bench's events per second)
    cdef Req** blocks
    cdef Py_ssize_t n_blocks, n_reqs
    cdef int free_head
    cdef Hop* hops
    cdef int n_hops
    cdef double* cum
    cdef int* btargets
    cdef int n_branch
    cdef int** routes  # per source its route (a hop per station), then the all-discard route of cancelled ghosts
    cdef int n_routes
    cdef bint scoped  # some station has a deadline
    cdef public list nodes, stats, sources, window_stats, all_stats
    cdef int n_windows
    cdef double* win_t0
    cdef double* win_t1
    cdef list node_objs
    cdef object rand
    cdef public long n_arrived, outstanding, active_sources, warmup
    cdef public double limit
    cdef public double done_at  # NaN until traffic has stopped and the last request is done: that event's time
    cdef public bint track_exits
    cdef public double window_start
    cdef public list window_area_start, window_area_end
    cdef public object window
    cdef public object clock
    cdef dict calls
    cdef bint after_work_pending  # the failed visit's error came after its work (read by visit_failed)

    def __cinit__(self):
        self.heap = NULL
        self.blocks = NULL
        self.hops = NULL
        self.cum = NULL
        self.btargets = NULL
        self.routes = NULL
        self.n_routes = 0
        self.win_t0 = NULL
        self.win_t1 = NULL
        self.free_head = -1

    def __dealloc__(self):
        cdef Py_ssize_t k
        free(self.heap)
        for k in range(self.n_blocks):
            free(self.blocks[k])
        free(self.blocks)
        free(self.hops)
        free(self.cum)
        free(self.btargets)
        if self.routes != NULL:
            free(self.routes[self.n_routes - 1])  # the discard route (the sources free their own)
        free(self.routes)
        free(self.win_t0)
        free(self.win_t1)

    def __init__(self, object sim, object network, list streams, list put_streams, object rng):
        """`streams`: one numpy generator per station then per source (as the pure engine spawns them);
        `put_streams`: the queue writes' generator per station (None where there is none)."""
        cdef int n = len(network.stations), i
        self.rand = rng.random
        self.calls = {}
        self.nodes = []
        self.n_arrived = 0
        self.outstanding = 0
        self.done_at = NAN
        self.warmup = sim.warmup
        self.limit = sim.limit
        self.track_exits = sim.track_exits
        self.window = None
        self.window_area_start = []
        self.window_area_end = []
        self.window_start = 0.0
        self.heap_cap = 1024
        self.heap = <Entry*> malloc(self.heap_cap * sizeof(Entry))
        if self.heap == NULL:
            raise MemoryError()
        struck = station_targets(network)
        for i, st in enumerate(network.stations):
            self.nodes.append(self._node(i, st, streams[i], put_streams[i], i in struck))
        self.stats = [FastStats(src.name, n, len(src.complete_through), src.deadline) for src in network.sources]
        # As `core.Simulation`: a source's stats per named window; all_stats = the sources', then source j's window
        # w at len(sources) + j * n_windows + w (a request's `stat`).
        self.n_windows = len(network.windows)
        self.win_t0 = <double*> malloc(max(1, self.n_windows) * sizeof(double))
        self.win_t1 = <double*> malloc(max(1, self.n_windows) * sizeof(double))
        for i, (_, t0, t1) in enumerate(network.windows):
            self.win_t0[i] = t0
            self.win_t1[i] = t1
        self.window_stats = [[FastStats(src.name, n, len(src.complete_through), src.deadline)
                              for _ in network.windows] for src in network.sources]
        self.all_stats = self.stats + [st for row in self.window_stats for st in row]
        self._routes_and_sources(sim, network, streams[n:])
        self.active_sources = len(self.sources)

    # ------------------------------------------------------------------ building
    cdef FastNode _node(self, int i, object st, object rng, object put_rng, bint struck):
        cdef FastNode node = FastNode()
        node.name = st.name
        node.spec = st
        node.idx = i
        node.servers = st.servers
        node.capacity = -1 if st.admission_limit is None else st.admission_limit  # capacity, and shedding's bound
        node.draws = Draws(ServiceSampler(st.service, rng)._draw)
        node.rand = self.rand
        node.waits = array.array("d")
        node.sojourns = array.array("d")
        node.cutoff = st.timeout if st.timeout is not None else INFINITY
        node.deadline = st.deadline if st.deadline is not None else INFINITY
        node.cancel = st.on_deadline == "cancel"
        node.base_error = st.errors.base if st.errors is not None else 0.0
        node.curve = st.errors if st.errors is not None and st.errors.threshold is not None else None
        node.slowdown = st.slowdown
        node.check_errors = st.errors is not None
        node.p_error = node.base_error
        node.successes_left = node.successes_before_error()
        window = node.curve.window if node.curve is not None else node.slowdown.window if node.slowdown is not None \
            else 0.0
        node.window = window
        node.mark_step = window / MARKS
        node.tracked = node.curve is not None or node.slowdown is not None
        node.next_mark = node.mark_step if node.tracked else INFINITY
        node.mark_t[0] = 0.0
        node.mark_a[0] = 0.0
        node.mark_head = 0
        node.mark_len = 1
        node.window_utilization = 0.0
        node.slow_factor = node.slowdown.multiplier(0.0) if node.slowdown is not None else 1.0
        node.at_last_snapshot = (0.0, 0, 0, 0)
        node.open_servers = st.servers
        node.latency_factor = 1.0
        node.error_floor = 0.0
        node.down = False
        node.retry = None
        node.after_work = st.errors_after_work
        node.dead_letter = st.dead_letter is not None
        node.idempotent = st.idempotency_key
        if st.is_buffer:
            node.kind = K_ENQUEUE if st.enqueue is not None else K_BUFFER
            node.acknowledge = st.acknowledge
            node.retry = st.retry
            node.has_retry = st.retry is not None
            node.max_attempts = st.retry.max_attempts if st.retry is not None else 0
            node.gate = gate_for(st.retry, self.rand)
            node.breaker = CircuitBreaker(st.breaker) if st.breaker is not None else None
            node.instant = st.service.dist == "deterministic" and st.service.mean == 0.0
            if node.instant:
                node.sojourns = node.waits
            if st.enqueue is not None:
                node.put_draws = Draws(ServiceSampler(st.enqueue, put_rng)._draw)
                node.put_error = st.enqueue_error
        elif struck:  # only the full station honours an incident's state
            node.kind = K_FULL
            node.check_errors = True
        elif st.admission_limit is None and st.timeout is None and st.slowdown is None and st.deadline is None:
            node.kind = K_PLAIN if st.errors is None or st.errors.threshold is None else K_CURVE
        else:
            node.kind = K_FULL
        return node

    cdef int _hop(self, int kind, int idx):
        self.hops = <Hop*> realloc(self.hops, (self.n_hops + 1) * sizeof(Hop))
        self.hops[self.n_hops].kind = kind
        self.hops[self.n_hops].idx = idx
        self.hops[self.n_hops].step = 0
        self.hops[self.n_hops].target = -1
        self.hops[self.n_hops].b0 = 0
        self.hops[self.n_hops].bn = 0
        self.n_hops += 1
        return self.n_hops - 1

    cdef list _route(self, object matrix, list node_hops, list exit_hops):
        """`Simulation._routes`: a hop per station."""
        cdef list out = []
        cdef int i, j, h, k
        cdef double acc, leave
        for i, row in enumerate(matrix):
            targets = [(p, node_hops[j]) for j, p in enumerate(row) if p > 0]
            leave = 1.0 - sum(row)
            if not targets:
                out.append(exit_hops[i])
            elif len(targets) == 1 and leave <= 1e-12:
                out.append(targets[0][1])
            else:
                cum = []
                hops = []
                acc = 0.0
                for p, hop in targets:
                    acc += p
                    cum.append(acc)
                    hops.append(hop)
                cum[len(cum) - 1] = min(cum[len(cum) - 1], 1.0) if leave > 1e-12 else 1.0 + 1e-9
                hops.append(exit_hops[i])
                h = self._hop(H_BRANCH, i)
                k = self.n_branch
                self.cum = <double*> realloc(self.cum, (k + len(hops)) * sizeof(double))
                self.btargets = <int*> realloc(self.btargets, (k + len(hops)) * sizeof(int))
                for j in range(len(hops)):
                    self.cum[k + j] = cum[j] if j < len(cum) else INFINITY
                    self.btargets[k + j] = hops[j]
                self.hops[h].b0 = k
                self.hops[h].bn = len(cum)
                self.n_branch = k + len(hops)
                out.append(h)
        return out

    cdef void _routes_and_sources(self, object sim, object network, list streams) except *:
        cdef int n = len(network.stations), i, k, h
        cdef ArrivalSource src
        node_hops = [self._hop(H_NODE, i) for i in range(n)]
        exit_hops = [self._hop(H_EXIT, i) for i in range(n)]
        self.scoped = any(st.deadline is not None for st in network.stations)
        if self.scoped:  # `Simulation._routes`: a hop into a buffer or out of the network ends a deadline's scope
            exit_hops = [self._scope(h) for h in exit_hops]
            node_hops = [self._scope(h) if network.stations[i].is_buffer else h for i, h in enumerate(node_hops)]
        base_route = self._route(network.routing, node_hops, exit_hops)
        self.sources = []
        for j, spec in enumerate(network.sources):
            route = list(base_route if spec.routing is None else self._route(spec.routing, node_hops, exit_hops))
            for k, step in enumerate(spec.complete_through):
                for i in step:
                    h = self._hop(H_MARK, i)
                    self.hops[h].step = k
                    self.hops[h].target = route[i]
                    route[i] = h
            src = ArrivalSource()
            src.spec = spec
            src.stats = self.stats[j]
            src.idx = j
            src.entry = spec.entry
            src.rng = streams[j]
            src.exp = <double*> malloc(BLOCK * sizeof(double))
            src.nexp = 0
            src.end = min(spec.end, network.traffic_end) if sim.requests is None else spec.end
            segs = source_segments(network, j, spec)
            src.nseg = len(segs)
            src.seg_a = <double*> malloc(max(1, src.nseg) * sizeof(double))
            src.seg_b = <double*> malloc(max(1, src.nseg) * sizeof(double))
            src.seg_r = <double*> malloc(max(1, src.nseg) * sizeof(double))
            src.seg_s = <double*> malloc(max(1, src.nseg) * sizeof(double))
            for k, (a, b, r0, s) in enumerate(segs):
                src.seg_a[k] = a
                src.seg_b[k] = b
                src.seg_r[k] = r0
                src.seg_s[k] = s
            src.seg = 0
            src.cache_segment()
            src.route = <int*> malloc(max(1, n) * sizeof(int))
            for i in range(n):
                src.route[i] = route[i]
            self.sources.append(src)
        cdef int m = len(self.sources)
        self.routes = <int**> malloc((m + 1) * sizeof(int*))
        for k in range(m):
            self.routes[k] = (<ArrivalSource> self.sources[k]).route
        self.routes[m] = <int*> malloc(max(1, n) * sizeof(int))
        h = self._hop(H_DISCARD, 0)
        for i in range(n):
            self.routes[m][i] = h
        self.n_routes = m + 1

    cdef int _scope(self, int target):
        cdef int h = self._hop(H_SCOPE, 0)
        self.hops[h].target = target
        return h

    # ------------------------------------------------------------------ the calendar
    cdef inline void push(self, double time, int kind, int target, int req) except *:
        cdef long long eid = self.next_eid
        self.next_eid = eid + 1
        self.push_entry(time, eid, kind, target, req)

    cdef void push_entry(self, double time, long long eid, int kind, int target, int req) except *:
        cdef Py_ssize_t pos, parent
        cdef Entry* heap
        if self.heap_len == self.heap_cap:
            heap = <Entry*> realloc(self.heap, 2 * self.heap_cap * sizeof(Entry))
            if heap == NULL:
                raise MemoryError()
            self.heap = heap
            self.heap_cap *= 2
        heap = self.heap
        pos = self.heap_len
        self.heap_len += 1
        while pos > 0:
            parent = (pos - 1) >> 1
            if heap[parent].time < time or (heap[parent].time == time and heap[parent].eid < eid):
                break
            heap[pos] = heap[parent]
            pos = parent
        heap[pos].time = time
        heap[pos].eid = eid
        heap[pos].kind = kind
        heap[pos].target = target
        heap[pos].req = req

    cdef inline Entry pop(self):
        cdef Entry* heap = self.heap
        cdef Entry top = heap[0]
        cdef Entry last
        cdef Py_ssize_t n, pos, child
        self.heap_len -= 1
        n = self.heap_len
        if n > 0:
            last = heap[n]
            pos = 0
            child = 1
            while child < n:
                if child + 1 < n and (heap[child + 1].time < heap[child].time or
                                      (heap[child + 1].time == heap[child].time and
                                       heap[child + 1].eid < heap[child].eid)):
                    child += 1
                if last.time < heap[child].time or (last.time == heap[child].time and last.eid < heap[child].eid):
                    break
                heap[pos] = heap[child]
                pos = child
                child = 2 * pos + 1
            heap[pos] = last
        return top

    def peek(self):
        return self.heap[0].time if self.heap_len else INFINITY

    def take_id(self):
        cdef long long eid = self.next_eid
        self.next_eid = eid + 1
        return eid

    def push_marker(self, double time, long long key):
        self.push_entry(time, key, EV_SIMPY, 0, 0)

    def push_call(self, double time, object handler, object obj):
        cdef long long eid = self.next_eid
        self.next_eid = eid + 1
        self.calls[eid] = (handler, obj)
        self.push_entry(time, eid, EV_CALL, 0, 0)

    def set_incident(self, int i, double now, double latency_factor, double error_floor, bint down,
                     double open_servers):
        """`Node.set_incident`: station `i` switches to the state of its active incidents, at `now`."""
        cdef FastNode node = <FastNode> self.nodes[i]
        if now >= node.next_mark:
            node.mark(now)
        node.latency_factor = latency_factor
        node.error_floor = error_floor
        node.down = down
        natural = node.curve.probability(node.window_utilization) if node.curve is not None else node.base_error
        cdef double p = max(natural, error_floor)
        if p != node.p_error:
            node.p_error = p
            node.successes_left = node.successes_before_error()
        node.open_servers = open_servers
        while node.ring_len and node.busy < open_servers:  # instances back: they take the queue on
            node.busy_area += node.busy * (now - node.changed_at)
            node.changed_at = now
            node.busy += 1
            self.full_begin(node, node.q_pop(), now)

    def start(self):
        cdef ArrivalSource src
        for src in self.sources:
            self.schedule_next(src, 0.0)

    def meter_sample(self, double now, list arrivals, list area, list queue):
        """`Meter._sample` in C: append each station's arrivals so far, busy-server time so far and queue now."""
        cdef FastNode node
        cdef Py_ssize_t k = 0
        cdef long n
        for node in self.nodes:
            if node.kind == K_PLAIN or node.kind == K_CURVE:
                n = len(node.sojourns) + node.warm_done + node.busy + node.ring_len
            else:
                n = node.arrivals_counted
            (<list> arrivals[k]).append(n)
            (<list> area[k]).append(node.busy_area + node.busy * (now - node.changed_at))
            (<list> queue[k]).append(node.ring_len)
            k += 1

    def advance(self, double until, object idle):
        """Process every event before `until` (`Clock.advance`); the time of the last one processed, or None."""
        cdef Entry e
        cdef bint any_done = False
        cdef double last = 0.0
        while self.heap_len:
            if self.heap[0].time >= until:
                break
            e = self.pop()
            if e.kind == EV_SIMPY and idle is not None and idle():
                self.push_entry(e.time, e.eid, EV_SIMPY, 0, 0)  # SimPy's event waits for a later call
                break
            self.dispatch(e)
            last = e.time
            any_done = True
        return last if any_done else None

    def step(self):
        """Process the next event (`Clock.step`); its time."""
        cdef double t = self.heap[0].time
        self.dispatch(self.pop())
        return t

    cdef inline void dispatch(self, Entry e) except *:
        """Process one event of the calendar."""
        self.events += 1
        if e.kind == EV_DONE:
            self.done(<FastNode> self.nodes[e.target], e.req, e.time)
        elif e.kind == EV_FIRE:
            self.fire(<ArrivalSource> self.sources[e.target], e.time)
        elif e.kind == EV_ADMIT:
            self.admit(<FastNode> self.nodes[e.target], e.req, e.time)
        elif e.kind == EV_REENTER:
            (<FastNode> self.nodes[e.target]).reentries += 1
            self.buffer_arrive(<FastNode> self.nodes[e.target], e.req, e.time, True)
        elif e.kind == EV_SIMPY:
            self.clock._simpy_event()
        elif e.kind == EV_DEADLINE:
            self.expire(<FastNode> self.nodes[e.target], e.req, e.time)
        else:
            handler, obj = self.calls.pop(e.eid)
            handler(obj, e.time)

    # ------------------------------------------------------------------ requests
    cdef inline Req* req(self, int r):
        return &self.blocks[r >> BLOCK_BITS][r & (REQ_BLOCK - 1)]

    cdef int new_req(self) except -1:
        cdef int r
        if self.free_head >= 0:
            r = self.free_head
            self.free_head = self.req(r).next_free
            return r
        if self.n_reqs == self.n_blocks * REQ_BLOCK:
            self.blocks = <Req**> realloc(self.blocks, (self.n_blocks + 1) * sizeof(Req*))
            self.blocks[self.n_blocks] = <Req*> malloc(REQ_BLOCK * sizeof(Req))
            if self.blocks[self.n_blocks] == NULL:
                raise MemoryError()
            self.n_blocks += 1
        r = self.n_reqs
        self.n_reqs += 1
        return r

    cdef inline void free_req(self, int r):
        self.req(r).next_free = self.free_head
        self.free_head = r

    @property
    def memory_bytes(self):
        """Bytes of the C state: the calendar, the request records and the queues' rings (not the samples)."""
        cdef Py_ssize_t total = self.heap_cap * sizeof(Entry) + self.n_blocks * REQ_BLOCK * sizeof(Req)
        cdef FastNode node
        for node in self.nodes:
            total += node.ring_cap * sizeof(int) + node.draws.size * sizeof(double)
        return total

    @property
    def requests_allocated(self):
        """Request records ever allocated (the most in the network at once): the run's memory for requests."""
        return self.n_reqs

    # ------------------------------------------------------------------ arrivals
    cdef void schedule_next(self, ArrivalSource src, double now) except *:
        cdef double t = src.next_time(now, src.next_exp())
        if t > src.end:
            self.active_sources -= 1
            if self.active_sources == 0 and self.outstanding == 0:
                self.done_at = now
            return
        self.push(t, EV_FIRE, src.idx, 0)

    cdef void fire(self, ArrivalSource src, double now) except *:
        if self.n_arrived >= self.limit:
            self.active_sources -= 1
            if self.active_sources == 0 and self.outstanding == 0:
                self.done_at = now
            return
        cdef double work = src.next_exp(), t
        if src.flat_a <= now and work <= src.flat_r * (src.flat_b - now):
            t = now + work / src.flat_r
        else:
            t = src.next_time(now, work)
        if t > src.end:
            self.active_sources -= 1
        else:
            self.push(t, EV_FIRE, src.idx, 0)
        self.arrival(src, now)

    cdef void arrival(self, ArrivalSource src, double now) except *:
        cdef long i = self.n_arrived
        self.n_arrived = i + 1
        cdef int r = self.new_req()
        cdef Req* q = self.req(r)
        q.entered_at = now
        q.source = src.idx
        q.stat = src.idx
        cdef int w
        if self.n_windows:
            for w in range(self.n_windows):
                if self.win_t0[w] <= now < self.win_t1[w]:
                    q.stat = len(self.stats) + src.idx * self.n_windows + w
                    break
        q.holder = -1
        q.acked = False
        q.steps_done = 0
        q.met_error = False
        q.attempts = 0
        q.cut_off = False
        q.last_station = -1
        q.ghost = False
        q.deadline_at = INFINITY
        q.counted = i >= self.warmup
        cdef FastStats st = <FastStats> self.all_stats[q.stat]
        if q.counted:
            st.arrivals += 1
        if i == self.warmup:
            self.window_start = now
            self.window_area_start = [n.area_at(now) for n in self.nodes]
        if i + 1 == self.limit:
            self.window = (self.window_start, now)
            self.window_area_end = [n.area_at(now) for n in self.nodes]
        self.outstanding += 1
        self.node_arrive(<FastNode> self.nodes[src.entry], r, now)

    # ------------------------------------------------------------------ routes
    cdef void hop(self, int h, int r, double now) except *:
        """`hop.arrive(req, now)` for a route entry."""
        cdef Hop* hp
        cdef Req* q
        cdef double u
        cdef int lo, hi, mid
        while True:
            hp = &self.hops[h]
            if hp.kind == H_NODE:
                self.node_arrive(<FastNode> self.nodes[hp.idx], r, now)
                return
            if hp.kind == H_EXIT:
                self.req(r).last_station = hp.idx
                self.leave(r, now)
                return
            if hp.kind == H_MARK:
                q = self.req(r)
                if q.steps_done == hp.step:
                    q.steps_done = hp.step + 1
                h = hp.target
                continue
            if hp.kind == H_SCOPE:
                q = self.req(r)
                if q.ghost:  # an abandoned copy's work ends at a hand-off or exit
                    self.free_req(r)
                    return
                q.deadline_at = INFINITY
                h = hp.target
                continue
            if hp.kind == H_DISCARD:
                self.free_req(r)
                return
            # a branch: targets[bisect_right(cum, u)]
            u = self.rand()
            lo = 0
            hi = hp.bn
            while lo < hi:
                mid = (lo + hi) >> 1
                if u < self.cum[hp.b0 + mid]:
                    hi = mid
                else:
                    lo = mid + 1
            h = self.btargets[hp.b0 + lo]

    cdef inline void route_on(self, FastNode node, int r, double now) except *:
        self.hop(self.routes[self.req(r).source][node.idx], r, now)

    # ------------------------------------------------------------------ a request's end
    cdef void release(self, int holder, double now) except *:
        """`BufferNode.release`: the consumer takes the next waiting message, or its slot frees."""
        cdef FastNode b = <FastNode> self.nodes[holder]
        if b.breaker is not None:
            b.breaker.succeeded(now)  # (a no-op right after `failed`: then this release is the failure's)
        if b.ring_len:
            self.take(b, b.q_pop(), now)
        else:
            b.busy_area += b.busy * (now - b.changed_at)
            b.changed_at = now
            b.busy -= 1

    cdef void leave(self, int r, double now) except *:
        cdef Req* q = self.req(r)
        cdef int holder = q.holder
        if holder >= 0:
            q.holder = -1
            self.release(holder, now)
            q = self.req(r)
        cdef FastStats st = <FastStats> self.all_stats[q.stat]
        cdef double d = now - q.entered_at
        if not q.acked and d > st.deadline:
            self.timed_out(r, now)
            return
        self.outstanding -= 1
        if self.outstanding == 0 and self.active_sources == 0:
            self.done_at = now
        if q.counted:
            if q.met_error:
                st.met_error_ok += 1
            if q.steps_done < st.need:
                st.leaks[q.last_station][q.steps_done] += 1
                st.n_dropped += 1
                if not q.acked:
                    st.acked += 1
                    push_double(st.accept, d)
                self.free_req(r)
                return
            push_double(st.sojourn, d)
            if self.track_exits:
                push_double(<array.array> st.exits[q.last_station], d)
            if q.acked:
                push_double(st.settle, d)
            else:
                push_double(st.accept, d)
        self.free_req(r)

    cdef void timed_out(self, int r, double now) except *:
        cdef Req* q = self.req(r)
        cdef int holder = q.holder
        cdef FastStats st
        if holder >= 0:
            q.holder = -1
            self.release(holder, now)
            q = self.req(r)
        if q.counted:
            st = <FastStats> self.all_stats[q.stat]
            st.timeouts += 1
            push_double(st.accept, st.deadline)
        self.finish(r, 0, now)

    cdef void finish(self, int r, int outcome, double now) except *:
        """End a request that did not complete: outcome 0 error, 1 failed, 2 dropped."""
        cdef Req* q = self.req(r)
        cdef FastStats st
        self.outstanding -= 1
        if self.outstanding == 0 and self.active_sources == 0:
            self.done_at = now
        if q.counted:
            st = <FastStats> self.all_stats[q.stat]
            if outcome == 0:
                st.n_error += 1
            elif outcome == 1:
                st.n_failed += 1
            else:
                st.n_dropped += 1
                if q.met_error:
                    st.met_error_ok += 1
        self.free_req(r)

    cdef void visit_failed(self, int r, double now) except *:
        cdef Req* q = self.req(r)
        cdef FastNode last = <FastNode> self.nodes[q.last_station]
        cdef FastNode b
        cdef double delay
        cdef bint after_work = self.after_work_pending
        self.after_work_pending = False
        if q.ghost:  # an abandoned copy's failure matters to no one
            self.free_req(r)
            return
        q.deadline_at = INFINITY
        q.met_error = True
        cdef int holder = q.holder
        if holder >= 0:
            q.holder = -1
            b = <FastNode> self.nodes[holder]
            if b.breaker is not None:
                b.breaker.failed(now)
            self.release(holder, now)
            q = self.req(r)
            if b.has_retry and q.attempts >= b.max_attempts:
                last.exhausted += 1
            elif b.has_retry:
                delay = <double> (b.retry.delay(q.attempts) if b.gate is None else b.gate.delay(q.attempts, b))
                if delay < 0.0:  # refused by the retry budget: out of attempts
                    last.exhausted += 1
                else:
                    last.recovered += 1
                    if q.counted:
                        (<FastStats> self.all_stats[q.stat]).retries += 1
                    if after_work and not b.idempotent:  # the retry does the work again
                        last.duplicates += 1
                        if q.counted:
                            (<FastStats> self.all_stats[q.stat]).duplicates += 1
                    self.push(now + delay, EV_REENTER, holder, r)
                    return
            if b.dead_letter:  # out of attempts: kept in the dead-letter queue (not settled)
                b.dead_letters += 1
                if q.counted:
                    (<FastStats> self.all_stats[q.stat]).dead_lettered += 1
        if q.acked:
            last.lost += 1
            self.finish(r, 1, now)
        else:
            last.surfaced += 1
            self.finish(r, 0, now)

    cdef void expire(self, FastNode node, int r, double now) except *:
        """`DeadlineNode._expire`: a twin carries the request's life on (a failed visit of `node`); the original
        becomes a ghost whose work is cancelled or continues."""
        cdef Req* q = self.req(r)
        if q.deadline_at != now or q.deadline_node != node.idx:
            return  # the scope ended, or an earlier deadline took over
        node.abandoned += 1
        cdef int t = self.new_req()  # may move the records: fetch both after it
        q = self.req(r)
        cdef Req* tw = self.req(t)
        cdef int next_free = tw.next_free
        tw[0] = q[0]
        tw.next_free = next_free
        tw.deadline_at = INFINITY
        tw.ghost = False
        q.ghost = True
        q.deadline_at = -INFINITY
        q.holder = -1
        q.counted = False
        if node.cancel and not self.unqueue(r):
            q.source = self.n_routes - 1  # in service: its result is discarded when the service ends
        tw.last_station = node.idx
        self.visit_failed(t, now)

    cdef bint unqueue(self, int r) except *:
        """`Simulation.cancel`: take a waiting request out of its station's queue (True), if it waits in one."""
        cdef FastNode node
        cdef Py_ssize_t k, j, cap
        for node in self.nodes:
            if node.kind == K_BUFFER or node.kind == K_ENQUEUE or not node.ring_len:
                continue
            cap = node.ring_cap
            for k in range(node.ring_len):
                if node.ring[(node.ring_head + k) % cap] == r:
                    for j in range(k, node.ring_len - 1):
                        node.ring[(node.ring_head + j) % cap] = node.ring[(node.ring_head + j + 1) % cap]
                    node.ring_len -= 1
                    self.free_req(r)
                    return True
        return False

    # ------------------------------------------------------------------ stations
    cdef void node_arrive(self, FastNode node, int r, double now) except *:
        cdef int kind = node.kind
        if kind == K_PLAIN:
            self.plain_arrive(node, r, now)
        elif kind == K_CURVE:
            if now >= node.next_mark:
                node.mark(now)
            self.plain_arrive(node, r, now)
        elif kind == K_BUFFER:
            self.buffer_arrive(node, r, now, False)
        elif kind == K_ENQUEUE:
            self.push(now + node.put_draws.next(), EV_ADMIT, node.idx, r)
        else:
            self.full_arrive(node, r, now)

    cdef void done(self, FastNode node, int r, double now) except *:
        cdef int kind = node.kind
        if kind == K_PLAIN:
            self.plain_done(node, r, now)
        elif kind == K_CURVE:
            if now >= node.next_mark:
                node.mark(now)
            self.plain_done(node, r, now)
        elif kind == K_BUFFER or kind == K_ENQUEUE:
            self.buffer_done(node, r, now)
        else:
            self.full_done(node, r, now)

    cdef inline void plain_arrive(self, FastNode node, int r, double now) except *:
        cdef Req* q = self.req(r)
        q.arrived_at = now
        cdef long busy = node.busy
        if busy < node.servers:
            node.busy_area += busy * (now - node.changed_at)
            node.changed_at = now
            node.busy = busy + 1
            q.service_started_at = now
            self.push(now + node.draws.next(), EV_DONE, node.idx, r)
        else:
            node.q_push(r)

    cdef void plain_done(self, FastNode node, int r, double now) except *:
        cdef Req* q = self.req(r)
        cdef int nxt
        record_visit(node, q, now)
        if node.ring_len:
            nxt = node.q_pop()
            self.req(nxt).service_started_at = now
            self.push(now + node.draws.next(), EV_DONE, node.idx, nxt)
        else:
            node.busy_area += node.busy * (now - node.changed_at)
            node.changed_at = now
            node.busy -= 1
        cdef long long left = node.successes_left - 1
        if left < 0:
            node.successes_left = node.successes_before_error()
            node.errors += 1
            q.last_station = node.idx
            if node.after_work > 0.0 and self.rand() < node.after_work:
                self.after_work_pending = True
            self.visit_failed(r, now)
            return
        node.successes_left = left
        self.route_on(node, r, now)

    cdef void full_arrive(self, FastNode node, int r, double now) except *:
        cdef Req* q = self.req(r)
        cdef double t = now + node.deadline
        if t < q.deadline_at:  # `DeadlineNode.arrive` (never for a station without one: t is then inf)
            q.deadline_at = t
            q.deadline_node = node.idx
            self.push(t, EV_DEADLINE, node.idx, r)
        node.arrivals_counted += 1
        if node.down:  # an outage refuses the call at once
            node.errors += 1
            q.last_station = node.idx
            self.visit_failed(r, now)
            return
        if node.capacity >= 0 and node.busy + node.ring_len >= node.capacity:
            node.rejected += 1
            if q.counted:
                node.counted_rejected += 1
            q.last_station = node.idx
            self.visit_failed(r, now)
            return
        q.arrived_at = now
        cdef long busy = node.busy
        cdef double s
        if busy < node.open_servers:
            if now >= node.next_mark:
                node.mark(now)
            node.busy_area += busy * (now - node.changed_at)
            node.changed_at = now
            node.busy = busy + 1
            s = node.draws.next() * node.slow_factor * node.latency_factor
            if s > node.cutoff:
                s = node.cutoff
                q.cut_off = True
            else:
                q.cut_off = False
            q.service_started_at = now
            self.push(now + s, EV_DONE, node.idx, r)
        else:
            node.q_push(r)

    cdef void full_begin(self, FastNode node, int r, double now) except *:
        cdef Req* q = self.req(r)
        cdef double s = node.draws.next()
        if node.slowdown is not None:
            if now >= node.next_mark:
                node.mark(now)
            s *= node.slow_factor
        s *= node.latency_factor
        if s > node.cutoff:
            s = node.cutoff
            q.cut_off = True
        else:
            q.cut_off = False
        q.service_started_at = now
        self.push(now + s, EV_DONE, node.idx, r)

    cdef void full_done(self, FastNode node, int r, double now) except *:
        cdef Req* q = self.req(r)
        record_visit(node, q, now)
        if node.ring_len and node.busy <= node.open_servers:  # a server out of rotation starts nothing new
            self.full_begin(node, node.q_pop(), now)
        else:
            if now >= node.next_mark:
                node.mark(now)
            node.busy_area += node.busy * (now - node.changed_at)
            node.changed_at = now
            node.busy -= 1
        cdef bint failed = q.cut_off
        cdef long long left
        if not failed and node.check_errors:
            if now >= node.next_mark:
                node.mark(now)
            left = node.successes_left - 1
            if left < 0:
                failed = True
                node.successes_left = node.successes_before_error()
            else:
                node.successes_left = left
        if failed:
            node.errors += 1
            q.last_station = node.idx
            if node.after_work > 0.0 and not q.cut_off and self.rand() < node.after_work:
                self.after_work_pending = True
            self.visit_failed(r, now)
            return
        self.route_on(node, r, now)

    # ------------------------------------------------------------------ buffers
    cdef void buffer_arrive(self, FastNode node, int r, double now, bint reentry) except *:
        cdef Req* q = self.req(r)
        cdef FastStats st
        cdef double latency
        node.arrivals_counted += 1
        cdef int holder = q.holder
        if holder >= 0:
            q.holder = -1
            self.release(holder, now)
            q = self.req(r)
        if node.acknowledge and not q.acked:
            st = <FastStats> self.all_stats[q.stat]
            latency = now - q.entered_at
            if latency > st.deadline:
                self.timed_out(r, now)
                return
            q.acked = True
            if q.counted:
                st.acked += 1
                push_double(st.accept, latency)
        cdef long busy = node.busy
        if node.capacity >= 0 and busy + node.ring_len >= node.capacity:
            node.rejected += 1
            if q.counted:
                node.counted_rejected += 1
            q.last_station = node.idx
            self.finish(r, 2 if q.acked else 0, now)
            return
        if not reentry:
            q.attempts = 0
        q.arrived_at = now
        if busy < node.servers:
            node.busy_area += busy * (now - node.changed_at)
            node.changed_at = now
            node.busy = busy + 1
            self.take(node, r, now)
        else:
            node.q_push(r)

    cdef void take(self, FastNode node, int r, double now) except *:
        cdef Req* q = self.req(r)
        q.holder = node.idx
        q.attempts += 1
        q.service_started_at = now
        if node.instant and not node.dispatching:
            if q.counted:
                push_double(node.waits, now - q.arrived_at)
            else:
                node.warm_done += 1
            node.dispatching = True
            try:
                self.hand_on(node, r, now)
            finally:
                node.dispatching = False
            return
        self.push(now + node.draws.next(), EV_DONE, node.idx, r)

    cdef inline void hand_on(self, FastNode node, int r, double now) except *:
        """A consumer hands its message on downstream, unless the buffer's breaker fails it fast."""
        if node.breaker is None or node.breaker.allow(now):
            self.route_on(node, r, now)
        else:
            self.req(r).last_station = node.idx
            self.visit_failed(r, now)

    cdef void buffer_done(self, FastNode node, int r, double now) except *:
        cdef Req* q = self.req(r)
        if not q.counted:
            node.warm_done += 1
        elif node.instant:
            push_double(node.waits, now - q.arrived_at)
        else:
            push_double(node.waits, q.service_started_at - q.arrived_at)
            push_double(node.sojourns, now - q.arrived_at)
        self.hand_on(node, r, now)

    cdef void admit(self, FastNode node, int r, double now) except *:
        """`EnqueueBufferNode._admit`: the write ended; it may fail, else the message is admitted."""
        cdef Req* q
        if node.put_error and self.rand() < node.put_error:
            q = self.req(r)
            node.arrivals_counted += 1
            node.errors += 1
            q.last_station = node.idx
            self.visit_failed(r, now)
            return
        self.buffer_arrive(node, r, now, False)
