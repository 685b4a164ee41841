"""vtpu: run vtpu kernels on NumPy arrays, in this process.

An emulated vtpu chip (the engine, driver and runtime of vtpu-run, through
libvtpu-run.so) runs kernels from a kernel module ELF on NumPy arrays::

    import numpy as np
    import vtpu

    chip = vtpu.Chip(gen='v4', cores=2)
    lib = chip.load(vtpu.find_module('kernels.elf'))
    x = np.random.rand(4096, 128).astype(np.float32)
    o = lib.add_sin_f32(x, x, grid=(512,), dims='parallel')

A failed launch raises KernelError with the device's report (core, pc,
grid point, message).  docs/python.md describes the whole API.
"""

import ctypes
import re
import threading

import numpy as np

from . import _lib
from ._lib import find_library, find_module

__all__ = ['Chip', 'Module', 'Kernel', 'ShapeDtype', 'Stats', 'run',
           'VtpuError', 'UsageError', 'LoadError', 'KernelError',
           'find_library', 'find_module', 'PARALLEL', 'ARBITRARY']

PARALLEL, ARBITRARY = 'parallel', 'arbitrary'

# NumPy dtype <-> vtpu dtype.  NumPy has no bfloat16: bf16 arrays are
# uint16 bit patterns (an ml_dtypes.bfloat16 array is taken as its bits).
_TO_VTPU = {np.dtype(np.float32): _lib.F32, np.dtype(np.int32): _lib.I32,
            np.dtype(np.uint32): _lib.U32, np.dtype(np.uint16): _lib.BF16,
            np.dtype(np.int16): _lib.I16, np.dtype(np.int8): _lib.I8,
            np.dtype(np.uint8): _lib.U8}
_TO_NUMPY = {v: k for k, v in _TO_VTPU.items()}
_DTYPE_BY_NAME = {_lib.DTYPE_NAMES[v]: v for v in _TO_NUMPY}


class VtpuError(Exception):
    """A failure reported by vtpu: `message` is the one line vtpu-run
    would print, `status` vtpu-run's exit status for it."""

    def __init__(self, message, status):
        super().__init__(message)
        self.message = message
        self.status = status


class UsageError(VtpuError, ValueError):
    """Bad options, an unknown kernel, arrays that do not fit the
    kernel's operands, a launch the runtime refuses before running it."""


class LoadError(VtpuError, OSError):
    """A module that cannot be read or is not a kernel module this chip
    runs."""


class KernelError(VtpuError):
    """The launch failed on the device: an error of the kernel or the TC
    runtime, a fault, or a check's report (race, uninitialised read,
    revisit...).

    Attributes, None when the report does not say:
      message     the launch's error line
      report      the whole report (str(e)): the error line, then what
                  the TCs wrote to stderr (the TC runtime's full line, a
                  check's report naming both accesses of a race)
      kernel      the kernel's name
      core        the TC it happened on (int)
      pc          the program counter (int)
      grid_point  the grid point, a tuple of ints
      code        what went wrong: the TC runtime's error name ('block
                  index out of range') or the fault's ('data race')
      stats       the launch's Stats (what ran before it failed)
    """

    def __init__(self, message, status, stats=None, report=None):
        super().__init__(message, status)
        self.report = report or message
        self.stats = stats
        message = self.report
        self.kernel = _group(r"launch of '([^']+)'", message) or \
            _group(r"kernel '([^']+)'", message)
        core = _group(r'\bTC (\d+)', message)
        self.core = int(core) if core is not None else None
        pc = _group(r'\bpc (0x[0-9a-fA-F]+)', message)
        self.pc = int(pc, 16) if pc is not None else None
        # The faulting access's own line in the engine's report ("write by
        # DMA issued by TC 0 at pc 0x... f+0x8, grid (3)") first: the device
        # line may name another access's grid point before its own.
        gp = None
        if self.core is not None:
            gp = _group(r'\bTC %d at pc 0x[0-9a-fA-F]+[^\n,]*, grid(?: point)? '
                        r'\(([-0-9, ]*)\)' % self.core, message)
        if gp is None:
            gp = _group(r'\bgrid(?: point)? \(([-0-9, ]*)\)', message)
        self.grid_point = (tuple(int(v) for v in gp.split(',') if v.strip())
                           if gp is not None else None)
        self.code = (_group(r'failed on TC \d+: ([^:(]+?) \(\d+\)', message) or
                     _group(r'faulted at pc 0x[0-9a-fA-F]+: ([^,\[]+?)[,\[]',
                            message))

    def __str__(self):
        return self.report


def _group(pattern, text):
    m = re.search(pattern, text)
    return m.group(1) if m else None


_ERRORS = {_lib.EUSAGE: UsageError, _lib.ELOAD: LoadError,
           _lib.EFAULT: KernelError, _lib.EFILE: VtpuError}


class ShapeDtype:
    """An output's shape and dtype (jax.ShapeDtypeStruct's role)."""

    def __init__(self, shape, dtype):
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)

    def __repr__(self):
        return f'ShapeDtype({self.shape}, {self.dtype})'


class Stats:
    """What a launch did (vtpu-run's summary line)."""

    def __init__(self, s, grid):
        self.num_tcs = s.num_tcs
        self.busy_tcs = s.busy_tcs
        self.steps = s.steps
        self.blocks_in, self.blocks_out = s.blocks_in, s.blocks_out
        self.bytes_in, self.bytes_out = s.bytes_in, s.bytes_out
        self.launch_seconds = s.launch_ns * 1e-9
        self.tc_steps = tuple(s.tc_steps[:s.num_tcs])
        self.grid = grid

    def __repr__(self):
        return (f'Stats(grid={self.grid}, {self.num_tcs} TCs '
                f'({self.busy_tcs} busy), {self.steps} steps, '
                f'{self.launch_seconds * 1e3:.3f} ms, {self.bytes_in} bytes '
                f'in, {self.bytes_out} out)')


def _vtpu_dtype(dt):
    dt = np.dtype(dt)
    if dt.name == 'bfloat16':
        return _lib.BF16
    v = _TO_VTPU.get(dt.newbyteorder('=') if dt.byteorder == '<' else dt)
    if v is None:
        raise TypeError(f'dtype {dt} has no vtpu dtype (float32, int32, '
                        f'uint32, uint16 = bf16 bits, int16, int8, uint8)')
    return v


def _as_input(a, i):
    a = np.asarray(a)
    if a.dtype not in _TO_VTPU:  # the fast path first: launches are short
        if a.dtype.name == 'bfloat16':
            a = a.view(np.uint16)
        else:
            a = a.astype(a.dtype.newbyteorder('='), copy=False) \
                if a.dtype.byteorder == '>' else a
            _vtpu_dtype(a.dtype)
    if not 1 <= a.ndim <= 4:
        raise UsageError(f'input {i}: rank {a.ndim} (vtpu arrays have 1 to 4 '
                         f'dimensions)', _lib.EUSAGE)
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def _fill(slot, a):
    """A ctypes Array entry describing the NumPy array `a`."""
    slot.dtype = _TO_VTPU[a.dtype]
    slot.rank = a.ndim
    for d, n in enumerate(a.shape):
        slot.shape[d] = n
    for d in range(a.ndim, 4):
        slot.shape[d] = 0
    slot.data = a.ctypes.data
    slot.bytes = a.nbytes


def _semantics(dims, rank):
    if dims is None:
        return [_lib.ARBITRARY] * rank
    if isinstance(dims, str):
        dims = dims.split(',') if ',' in dims else [dims] * rank
    if len(dims) != rank:
        raise UsageError(f'dims {dims}: {len(dims)} values for a grid of rank '
                         f'{rank}', _lib.EUSAGE)
    out = []
    for d in dims:
        d = d.strip() if isinstance(d, str) else d
        if d in ('parallel', 'p', True):
            out.append(_lib.PARALLEL)
        elif d in ('arbitrary', 'a', False):
            out.append(_lib.ARBITRARY)
        else:
            raise UsageError(f"dims: '{d}' is neither 'parallel' nor "
                             f"'arbitrary'", _lib.EUSAGE)
    return out


_GRID_SCALAR_BIT = 0x80000000  # VTPU_GRID_SCALAR (vtpu-launch.h)


def _grid_extent(grid, g):
    """A grid entry: an extent >= 1, or 'sI' for scalar I's value at
    launch (a dynamic grid)."""
    if isinstance(g, str):
        m = re.fullmatch(r's([0-9]+)', g)
        if not m or int(m.group(1)) >= _GRID_SCALAR_BIT:
            raise UsageError(f'grid {grid}: {g!r} is neither an extent nor '
                             f"'sI' (scalar I gives the extent)", _lib.EUSAGE)
        return _GRID_SCALAR_BIT | int(m.group(1))
    if not 1 <= int(g) < _GRID_SCALAR_BIT:
        raise UsageError(f'grid {grid}: extents must be 1 .. 2^31 - 1',
                         _lib.EUSAGE)
    return int(g)


def _check_flags(grid_order, check_revisit):
    f = _lib.F_REVISIT if check_revisit else 0
    if grid_order in (None, 'lexicographic'):
        return f
    seed = 1
    if isinstance(grid_order, str) and grid_order.startswith('shuffle'):
        rest = grid_order[len('shuffle'):]
        if rest.startswith(':') and rest[1:].isdigit():
            seed = int(rest[1:])
        elif rest:
            seed = -1
    else:
        seed = -1
    if not 0 <= seed <= 0xffff:
        raise UsageError(f'grid_order {grid_order!r}: expected lexicographic, '
                         f'shuffle or shuffle:SEED (SEED 0..65535)',
                         _lib.EUSAGE)
    return f | _lib.F_SHUFFLE | seed << _lib.SEED_SHIFT


class Chip:
    """An emulated vtpu chip in this process, with the driver and runtime
    over it.

    gen:        generation preset, 'v4', 'v5e', 'v5p' (default), 'v6e'
    cores:      TensorCores (default: the preset's)
    race:       detect data races between TCs and DMAs
    poison:     report reads of never-written VMEM/SMEM
    buffer_bounds: 'padded' (default): a read of an edge block's padding
                reads 0; 'logical': it is reported (KernelError)
    dma_order:  'eager' (default), 'on-wait', 'random' or 'random:SEED'
    trace:      write a Chrome/Perfetto JSON timeline of every launch to
                this file (complete after close())
    tag_output: prefix each line a kernel prints with [TC n (grid point)]
    quiet:      keep what kernels print (Kernel.last_output) without also
                writing it to this process's stdout/stderr
    props:      other chip properties (vtpu-run --help-props), with
                underscores for dashes: vmem_size='16M', insn_budget=10**6

    A chip runs one launch at a time (calls from several threads wait for
    each other).  Use it as a context manager or call close().
    """

    def __init__(self, gen=None, cores=None, race=False, poison=False,
                 dma_order=None, trace=None, tag_output=False, quiet=False,
                 buffer_bounds=None, **props):
        L = _lib.lib()
        opts = []
        if gen is not None:
            opts.append(f'gen={gen}')
        if cores is not None:
            opts.append(f'cores={cores}')
        if race:
            opts.append('race=on')
        if poison:
            opts.append('poison=on')
        if buffer_bounds is not None:
            if buffer_bounds not in ('padded', 'logical'):
                raise UsageError(f'buffer_bounds={buffer_bounds!r}: '
                                 "'padded' or 'logical'", _lib.EUSAGE)
            opts.append(f'bounds={buffer_bounds}')
        for k, v in props.items():
            opts.append(f"{k.replace('_', '-')}={v}")
        if dma_order is not None:
            opts.append(f'dma-order={dma_order}')
        if trace is not None:
            opts.append(f'trace={trace}')
        if tag_output:
            opts.append('tag-output=on')
        if quiet:
            opts.append('quiet=on')
        arr = (ctypes.c_char_p * (len(opts) + 1))(
            *[o.encode() for o in opts], None)
        err = ctypes.create_string_buffer(1024)
        self._L = L
        self._c = L.vtpu_run_open(arr, err, len(err))
        if not self._c:
            raise UsageError(err.value.decode(errors='replace'), _lib.EUSAGE)
        self.options = tuple(opts)
        self.num_tcs = L.vtpu_run_num_tcs(self._c)
        self._lock = threading.Lock()
        self._modules = {}

    def _error(self, status, stats=None):
        msg = self._L.vtpu_run_error(self._c).decode(errors='replace')
        cls = _ERRORS.get(status, VtpuError)
        if cls is KernelError:
            report = self._L.vtpu_run_report(self._c).decode(errors='replace')
            return KernelError(msg, status, stats, report.rstrip('\n'))
        return cls(msg, status)

    def _handle(self):
        if not self._c:
            raise VtpuError('the chip is closed', _lib.EUSAGE)
        return self._c

    def load(self, path):
        """Load the kernel module at `path` (once per chip and path)."""
        path = str(path)
        m = self._modules.get(path)
        if m is not None:
            return m
        h = ctypes.c_int()
        with self._lock:
            rc = self._L.vtpu_run_load(self._handle(), path.encode(),
                                       ctypes.byref(h))
            if rc:
                raise self._error(rc)
            m = Module(self, h.value, path)
        self._modules[path] = m
        return m

    def close(self):
        """Take the chip down (completes the trace file).  Idempotent."""
        with self._lock:
            if self._c:
                self._L.vtpu_run_close(self._c)
                self._c = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self):
        return f'Chip({", ".join(self.options)}; {self.num_tcs} TCs)'


class Module:
    """A kernel module loaded on a chip.  Kernels by name:
    module['add_sin_f32'] or module.add_sin_f32."""

    def __init__(self, chip, handle, path):
        self.chip, self._h, self.path = chip, handle, path
        L = chip._L
        n = L.vtpu_run_num_kernels(chip._c, handle)
        self.kernel_names = tuple(
            L.vtpu_run_kernel_name(chip._c, handle, i).decode()
            for i in range(n))
        self._kernels = {}

    def __getitem__(self, name):
        k = self._kernels.get(name)
        if k is None:
            c = self.chip
            idx = ctypes.c_int()
            with c._lock:
                rc = c._L.vtpu_run_find(c._handle(), self._h, name.encode(),
                                        ctypes.byref(idx))
                if rc:
                    raise c._error(rc)
                k = self._kernels[name] = Kernel(self, idx.value, name)
        return k

    def __getattr__(self, name):
        if name.startswith('_'):
            raise AttributeError(name)
        if name not in self.kernel_names:
            raise AttributeError(f'{self.path}: no kernel {name!r}')
        return self[name]

    def __contains__(self, name):
        return name in self.kernel_names

    def run(self, kernel, *args, **launch):
        """self[kernel](*args, **launch)."""
        return self[kernel](*args, **launch)

    def __repr__(self):
        return f'Module({self.path!r}, {len(self.kernel_names)} kernels)'


class Kernel:
    """One kernel of a module.  Calling it runs one launch::

        outs = kernel(*inputs, grid=(), dims=None, scalars=(),
                      out_shape=None, grid_order=None,
                      check_revisit=False, num_tcs=0)

    inputs:     NumPy arrays for the kernel's input and in/out operands,
                in operand order (in/out operands are copied: the result
                is returned, the argument is left alone)
    grid:       grid extents, up to 4 (an int for one dimension);
                () = one step; 'sI' takes an extent from scalar I at
                launch (a dynamic grid, Pallas' grid from scalars)
    dims:       semantics per grid dimension, 'parallel'/'arbitrary'
                ('p'/'a'), a sequence or one string for every dimension;
                default all arbitrary (Pallas' default)
    scalars:    scalar-prefetch values (int32; a float is passed as its
                f32 bits)
    out_shape:  per output (OUT operand, in order): a ShapeDtype, anything
                with .shape and .dtype, a shape tuple (dtype from the
                kernel or its inputs), or None to infer it as vtpu-run
                does; one value for a single output
    grid_order: None/'lexicographic' or 'shuffle[:SEED]'
    check_revisit: fail when an output block comes back after its
                write-back
    num_tcs:    TCs to run on (0 = all)

    Returns the outputs and in/out results in operand order: one array,
    or a tuple when there are several.  The launch's Stats are in
    kernel.last_stats, what its TCs printed in kernel.last_output (stdout)
    and kernel.last_stderr.
    """

    def __init__(self, module, index, name):
        self.module, self.index, self.name = module, index, name
        c = module.chip
        ops = (_lib.Operand * _lib.MAX_OPERANDS)()
        n = ctypes.c_uint(_lib.MAX_OPERANDS)
        rc = c._L.vtpu_run_operands(c._handle(), module._h, index, ops,
                                    ctypes.byref(n))
        if rc:
            raise c._error(rc)
        self.operands = tuple(
            {'role': {1: 'in', 2: 'out', 3: 'inout'}[o.role],
             'dtype': _lib.DTYPE_NAMES.get(o.dtype, 'any'),
             'rank': o.rank,
             # element-indexed dimensions (VTPU_BLOCK_ELEMENT): extent
             'block': tuple(b & 0x7fffffff for b in o.block[:o.rank]),
             # pl.Element dimensions, and their padding (lo, hi)
             'element': tuple(bool(b >> 31) for b in o.block[:o.rank]),
             'padding': self._padding(c, module, index, i, o.rank),
             'space': {0: 'vmem', 1: 'smem', 2: 'any'}.get(o.space, '?')}
            for i, o in enumerate(ops[:n.value]))
        self._roles = [ops[i].role for i in range(n.value)]
        self.num_inputs = sum(1 for r in self._roles if r & _lib.ROLE_IN)
        self.num_outputs = sum(1 for r in self._roles if r == _lib.ROLE_OUT)
        self._arrays = (_lib.Array * max(1, n.value))()
        self._launch = _lib.Launch()
        self._stats = _lib.Stats()
        self._shapes = {}  # inferred output shapes by the inputs' layout
        self.last_stats = None
        self.last_output = self.last_stderr = ''

    @staticmethod
    def _padding(c, module, index, op, rank):
        lo, hi = (ctypes.c_uint32 * 4)(), (ctypes.c_uint32 * 4)()
        rc = c._L.vtpu_run_padding(c._handle(), module._h, index, op, lo, hi)
        if rc:
            raise c._error(rc)
        return tuple((lo[d], hi[d]) for d in range(rank))

    def __repr__(self):
        return f'Kernel({self.name!r}, operands={self.operands})'

    def _out_specs(self, out_shape):
        if out_shape is None:
            return [None] * self.num_outputs
        if self.num_outputs == 1 and (
                not isinstance(out_shape, (list, tuple)) or
                all(isinstance(v, (int, np.integer)) for v in out_shape)):
            out_shape = [out_shape]
        out_shape = list(out_shape)
        if len(out_shape) > self.num_outputs:
            raise UsageError(f"{len(out_shape)} out_shape values for "
                             f"{self.num_outputs} outputs of '{self.name}'",
                             _lib.EUSAGE)
        return out_shape + [None] * (self.num_outputs - len(out_shape))

    def _shape_outputs(self, inputs, out_shape):
        """[(dtype, shape) per OUT operand], inferred in C where not given
        (cached by the inputs' dtypes and shapes)."""
        key = (tuple((a.dtype, a.shape) for a in inputs),
               _spec_key(out_shape))
        got = self._shapes.get(key)
        if got is not None:
            return got
        specs = self._out_specs(out_shape)
        arrays = (_lib.Array * len(self._roles))()
        it, so = iter(inputs), iter(specs)
        for i, r in enumerate(self._roles):
            if r & _lib.ROLE_IN:
                _fill(arrays[i], next(it))
                continue
            s = next(so)
            if s is None:
                continue
            if hasattr(s, 'shape') and hasattr(s, 'dtype'):
                arrays[i].dtype = _vtpu_dtype(s.dtype)
                shape = tuple(s.shape)
            elif isinstance(s, str):
                dt, _, dims = s.partition(':')
                if dt not in _DTYPE_BY_NAME:
                    raise UsageError(f'out_shape {s!r}: unknown dtype {dt!r}',
                                     _lib.EUSAGE)
                arrays[i].dtype = _DTYPE_BY_NAME[dt]
                shape = tuple(int(d) for d in dims.split(','))
            else:
                shape = tuple(s)
            if not 1 <= len(shape) <= 4:
                raise UsageError(f'out_shape {shape}: rank {len(shape)} (1 to '
                                 f'4 dimensions)', _lib.EUSAGE)
            arrays[i].rank = len(shape)
            for d, v in enumerate(shape):
                arrays[i].shape[d] = v
        c = self.module.chip
        with c._lock:
            rc = c._L.vtpu_run_shape(c._handle(), self.module._h, self.index,
                                     arrays, len(self._roles))
            if rc:
                raise c._error(rc)
        got = [(_TO_NUMPY[arrays[i].dtype],
                tuple(arrays[i].shape[:arrays[i].rank]))
               for i, r in enumerate(self._roles) if r == _lib.ROLE_OUT]
        self._shapes[key] = got
        return got

    def __call__(self, *args, grid=(), dims=None, scalars=(), out_shape=None,
                 grid_order=None, check_revisit=False, num_tcs=0):
        if len(args) != self.num_inputs:
            raise UsageError(
                f"kernel '{self.name}' takes {self.num_inputs} input "
                f"array{'s' if self.num_inputs != 1 else ''}, got {len(args)} "
                f"(operands: {', '.join(o['role'] for o in self.operands)})",
                _lib.EUSAGE)
        inputs = [_as_input(a, i) for i, a in enumerate(args)]
        outs_shape = self._shape_outputs(inputs, out_shape)
        with self.module.chip._lock:  # self's ctypes structures too
            return self._launch_locked(inputs, outs_shape, grid, dims,
                                       scalars, grid_order, check_revisit,
                                       num_tcs)

    def _launch_locked(self, inputs, outs_shape, grid, dims, scalars,
                       grid_order, check_revisit, num_tcs):
        arrays = self._arrays
        results = []
        ii = oi = 0
        for i, r in enumerate(self._roles):
            if r == _lib.ROLE_OUT:
                dt, shape = outs_shape[oi]
                oi += 1
                a = np.empty(shape, dt)
                results.append(a)
            else:
                a = inputs[ii]
                ii += 1
                if r == _lib.ROLE_INOUT:
                    a = a.copy()
                    results.append(a)
            _fill(arrays[i], a)

        if isinstance(grid, (int, np.integer)):
            grid = (grid,)
        grid = tuple(grid)
        if len(grid) > 4:
            raise UsageError(f'grid {grid}: at most 4 dimensions', _lib.EUSAGE)
        L = self._launch
        L.grid_rank = len(grid)
        for d, (g, s) in enumerate(zip(grid, _semantics(dims, len(grid)))):
            L.grid[d] = _grid_extent(grid, g)
            L.semantics[d] = s
        if isinstance(scalars, (int, np.integer, float)):
            scalars = (scalars,)
        sv = None
        if len(scalars):
            sv = np.array([_scalar_bits(v) for v in scalars], np.uint32) \
                .view(np.int32)
            L.scalars = sv.ctypes.data_as(ctypes.POINTER(ctypes.c_int32))
        else:
            L.scalars = None
        L.num_scalars = len(scalars)
        L.check_flags = _check_flags(grid_order, check_revisit)
        L.num_tcs = num_tcs

        c = self.module.chip
        rc = c._L.vtpu_run_kernel(c._handle(), self.module._h, self.index, L,
                                  arrays, len(self._roles), self._stats)
        stats = Stats(self._stats, grid)
        self.last_stats = stats
        self.last_output = c._L.vtpu_run_output(c._c, 1).decode(
            errors='replace')
        self.last_stderr = c._L.vtpu_run_output(c._c, 2).decode(
            errors='replace')
        if rc:
            raise c._error(rc, stats)
        del sv
        return results[0] if len(results) == 1 else tuple(results)


def _spec_key(spec):
    """A hashable key for an out_shape argument (arrays by layout)."""
    if spec is None or isinstance(spec, (str, int, np.integer)):
        return spec
    if hasattr(spec, 'shape') and hasattr(spec, 'dtype'):
        return ('sd', tuple(spec.shape), str(np.dtype(spec.dtype)))
    return tuple(_spec_key(s) for s in spec)


def _scalar_bits(v):
    if isinstance(v, (float, np.floating)):
        return int(np.array(v, np.float32).view(np.uint32))
    v = int(v)
    if not -2**31 <= v < 2**32:
        raise UsageError(f'scalar {v}: not a 32-bit integer', _lib.EUSAGE)
    return v & 0xffffffff


_chips = {}


def run(module, kernel, *args, gen=None, cores=None, race=False,
        poison=False, dma_order=None, trace=None, **launch):
    """One launch on a chip of these options, kept for the next call with
    the same ones (a trace gets a chip of its own, closed afterwards so
    the file is complete).  `module` is a path ('kernels.elf' alone is
    looked up in the build, find_module).  Other keywords are Kernel's.
    """
    path = str(module)
    if '/' not in path:
        path = find_module(path)
    opts = dict(gen=gen, cores=cores, race=race, poison=poison,
                dma_order=dma_order)
    if trace is not None:
        with Chip(trace=trace, **opts) as chip:
            return chip.load(path)[kernel](*args, **launch)
    key = tuple(sorted(opts.items()))
    chip = _chips.get(key)
    if chip is None:
        chip = _chips[key] = Chip(**opts)
    return chip.load(path)[kernel](*args, **launch)
