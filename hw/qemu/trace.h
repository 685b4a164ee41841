/* trace.h - QEMU trace events of the vtpu device (hw/qemu/trace-events). */
#include "trace/trace-hw_vtpu.h"
