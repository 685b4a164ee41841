"""ctypes binding of libvtpu-run.so (tools/libvtpu-run.h): the structures
and function prototypes, and where the library and the kernel modules of
a build are found."""

import ctypes
import os

API_VERSION = 2  # 2: vtpu_run_padding

MAX_OPERANDS = 16
MAX_TCS = 8

# Statuses (libvtpu-run.h): vtpu-run's exit statuses.
OK, EFILE, EUSAGE, EFAULT, ELOAD = 0, 1, 2, 125, 126

# enum vtpu_dtype (hw/vtpu/abi/vtpu-launch.h)
F32, I32, U32, BF16, I16, I8, U8 = range(1, 8)
DTYPE_NAMES = {F32: 'f32', I32: 'i32', U32: 'u32', BF16: 'bf16', I16: 'i16',
               I8: 'i8', U8: 'u8'}

ROLE_IN, ROLE_OUT, ROLE_INOUT = 1, 2, 3
ARBITRARY, PARALLEL = 0, 1
# VTPU_LAUNCH_F_* (vtpu-launch.h)
F_SHUFFLE, F_REVISIT, SEED_SHIFT = 0x2, 0x4, 16


class Array(ctypes.Structure):
    _fields_ = [('dtype', ctypes.c_uint32), ('rank', ctypes.c_uint32),
                ('shape', ctypes.c_uint32 * 4), ('data', ctypes.c_void_p),
                ('bytes', ctypes.c_uint64)]


class Launch(ctypes.Structure):
    _fields_ = [('grid_rank', ctypes.c_uint32),
                ('grid', ctypes.c_uint32 * 4),
                ('semantics', ctypes.c_uint32 * 4),
                ('num_scalars', ctypes.c_uint32),
                ('scalars', ctypes.POINTER(ctypes.c_int32)),
                ('check_flags', ctypes.c_uint32),
                ('num_tcs', ctypes.c_uint32)]


class Stats(ctypes.Structure):
    _fields_ = [('num_tcs', ctypes.c_uint32), ('busy_tcs', ctypes.c_uint32),
                ('steps', ctypes.c_uint32), ('blocks_in', ctypes.c_uint32),
                ('blocks_out', ctypes.c_uint32),
                ('bytes_in', ctypes.c_uint64), ('bytes_out', ctypes.c_uint64),
                ('launch_ns', ctypes.c_uint64),
                ('failed_tc', ctypes.c_int32),
                ('failed_code', ctypes.c_uint32),
                ('tc_steps', ctypes.c_uint32 * MAX_TCS)]


class Operand(ctypes.Structure):
    _fields_ = [('role', ctypes.c_uint32), ('space', ctypes.c_uint32),
                ('dtype', ctypes.c_uint32), ('rank', ctypes.c_uint32),
                ('block', ctypes.c_uint32 * 4)]


def _here_build_dirs():
    """Build directories next to this source tree (python/vtpu/..)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    return [os.path.join(root, d) for d in ('build', 'build-py')]


def find_library():
    """$VTPU_LIB, else $VTPU_BUILD_DIR/tools, else the source tree's
    build/ directory, else the system's search path."""
    env = os.environ.get('VTPU_LIB')
    if env:
        return env
    dirs = []
    if os.environ.get('VTPU_BUILD_DIR'):
        dirs.append(os.environ['VTPU_BUILD_DIR'])
    dirs += _here_build_dirs()
    for d in dirs:
        p = os.path.join(d, 'tools', 'libvtpu-run.so')
        if os.path.exists(p):
            return p
    return 'libvtpu-run.so'


def find_module(name='kernels.elf'):
    """A kernel module of the build: $VTPU_KERNELS_DIR/NAME, else
    $VTPU_BUILD_DIR/firmware/kernels/NAME, else the source tree's build."""
    dirs = []
    if os.environ.get('VTPU_KERNELS_DIR'):
        dirs.append(os.environ['VTPU_KERNELS_DIR'])
    if os.environ.get('VTPU_BUILD_DIR'):
        dirs.append(os.path.join(os.environ['VTPU_BUILD_DIR'], 'firmware',
                                 'kernels'))
    dirs += [os.path.join(d, 'firmware', 'kernels')
             for d in _here_build_dirs()]
    for d in dirs:
        p = os.path.join(d, name)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(
        f'{name}: not found in {dirs} (set VTPU_BUILD_DIR or '
        f'VTPU_KERNELS_DIR)')


_lib = None


def lib():
    """The loaded library, prototypes set (loaded once)."""
    global _lib
    if _lib is not None:
        return _lib
    L = ctypes.CDLL(find_library())
    P = ctypes.POINTER
    c_int, c_uint, c_char_p = ctypes.c_int, ctypes.c_uint, ctypes.c_char_p
    chip = ctypes.c_void_p
    protos = {
        'vtpu_run_version': (c_int, []),
        'vtpu_run_open': (chip, [P(c_char_p), c_char_p, ctypes.c_size_t]),
        'vtpu_run_close': (None, [chip]),
        'vtpu_run_error': (c_char_p, [chip]),
        'vtpu_run_status': (c_int, [chip]),
        'vtpu_run_report': (c_char_p, [chip]),
        'vtpu_run_output': (c_char_p, [chip, c_int]),
        'vtpu_run_num_tcs': (c_int, [chip]),
        'vtpu_run_load': (c_int, [chip, c_char_p, P(c_int)]),
        'vtpu_run_num_kernels': (c_int, [chip, c_int]),
        'vtpu_run_kernel_name': (c_char_p, [chip, c_int, c_int]),
        'vtpu_run_find': (c_int, [chip, c_int, c_char_p, P(c_int)]),
        'vtpu_run_operands': (c_int, [chip, c_int, c_int, P(Operand),
                                      P(c_uint)]),
        'vtpu_run_shape': (c_int, [chip, c_int, c_int, P(Array), c_uint]),
        'vtpu_run_kernel': (c_int, [chip, c_int, c_int, P(Launch), P(Array),
                                    c_uint, P(Stats)]),
        'vtpu_run_padding': (c_int, [chip, c_int, c_int, c_uint,
                                     P(ctypes.c_uint32), P(ctypes.c_uint32)]),
    }
    # the version first: an older library lacks the newer functions
    L.vtpu_run_version.restype, L.vtpu_run_version.argtypes = c_int, []
    v = L.vtpu_run_version()
    if v != API_VERSION:
        raise ImportError(f'{find_library()}: API version {v}, this package '
                          f'speaks {API_VERSION}')
    for name, (res, args) in protos.items():
        f = getattr(L, name)
        f.restype = res
        f.argtypes = args
    _lib = L
    return L
