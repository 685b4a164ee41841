/*
 * vtpu-ici.h - "-object vtpu-ici": the ICI fabric that joins several
 * vtpu devices of one VM into a slice (docs/qemu.md, "Several chips").
 *
 * The object owns a vtpu_fabric (hw/vtpu/include/vtpu-slice.h); a vtpu
 * device with ici=<id>,chip=<n> attaches its chip as chip n at realize
 * and detaches it at unrealize.  Everything here runs under the BQL.
 */
#ifndef HW_VTPU_ICI_H
#define HW_VTPU_ICI_H

#include "qom/object.h"

#include "vtpu.h"

#define TYPE_VTPU_ICI "vtpu-ici"
OBJECT_DECLARE_SIMPLE_TYPE(VTPUICIState, VTPU_ICI)

/* Attach `chip` as chip `index`: false + errp (naming the object, the
 * chip index and why) when the index is out of range or taken, or the
 * chip's configuration differs from the chips already attached. */
bool vtpu_ici_attach(VTPUICIState *ici, unsigned index, vtpu_chip *chip,
                     Error **errp);
/* No run of that chip may be in progress (the device has stopped it). */
void vtpu_ici_detach(VTPUICIState *ici, unsigned index);
/* "2x2" (parseable back by topology=) and the number of chips. */
void vtpu_ici_describe(VTPUICIState *ici, char *topo, size_t len,
                       unsigned *nchips);

#endif /* HW_VTPU_ICI_H */
