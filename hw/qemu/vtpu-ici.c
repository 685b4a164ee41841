/*
 * vtpu-ici.c - the user-creatable object "vtpu-ici" (vtpu-ici.h): the
 * ICI fabric of a slice of vtpu devices in one VM.
 *
 *   -object vtpu-ici,id=ici0,topology=2x2
 *   -device vtpu,ici=ici0,chip=0 ... -device vtpu,ici=ici0,chip=3
 *
 * Why an object and a link property (not a bus, not a property of one
 * "master" device): the fabric belongs to no single chip (any chip can
 * be unplugged, in any order), it must exist before the first device is
 * realized and outlive the last one, and it has properties of its own
 * (topology, link model); -object plus a link is how QEMU joins devices
 * to a shared backend (memdev= to memory-backend-*, iothread=,
 * ivshmem's memdev).  docs/qemu.md, "Several chips: vtpu-ici".
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "qemu/module.h"
#include "qom/object_interfaces.h"

#include "vtpu-ici.h"
#include "vtpu-slice.h"

struct VTPUICIState {
    Object parent_obj;

    char *topology;          /* topology= (vtpu_topology_parse) */
    uint32_t hop_latency;    /* hop-latency= ns */
    uint64_t link_bandwidth; /* link-bandwidth= bytes/s per direction */
    uint32_t launch_timeout; /* launch-timeout= ms, 0 = none */

    vtpu_fabric *fabric;     /* made by complete() */
    unsigned attached;       /* chips attached */
};

static const char *vtpu_ici_id(VTPUICIState *ici)
{
    const char *id = object_get_canonical_path_component(OBJECT(ici));

    return id ? id : "(unnamed)";
}

/* The link model is read by running TCs without a lock: it is fixed
 * once the object exists (only launch-timeout may change later). */
static bool vtpu_ici_fixed(VTPUICIState *ici, const char *name, Error **errp)
{
    if (ici->fabric) {
        error_setg(errp, "vtpu-ici '%s': property '%s' cannot change once "
                   "the object exists", vtpu_ici_id(ici), name);
        return true;
    }
    return false;
}

bool vtpu_ici_attach(VTPUICIState *ici, unsigned index, vtpu_chip *chip,
                     Error **errp)
{
    char err[256];

    if (!ici->fabric) { /* not completed: no topology yet */
        error_setg(errp, "vtpu: vtpu-ici '%s' has no topology",
                   vtpu_ici_id(ici));
        return false;
    }
    if (vtpu_fabric_attach(ici->fabric, index, chip, err, sizeof(err))) {
        error_setg(errp, "vtpu: chip %u of vtpu-ici '%s': %s", index,
                   vtpu_ici_id(ici), err);
        return false;
    }
    ici->attached++;
    return true;
}

void vtpu_ici_detach(VTPUICIState *ici, unsigned index)
{
    if (ici->fabric && vtpu_fabric_is_local(ici->fabric, index)) {
        vtpu_fabric_detach(ici->fabric, index);
        ici->attached--;
    }
}

void vtpu_ici_describe(VTPUICIState *ici, char *topo, size_t len,
                       unsigned *nchips)
{
    const vtpu_topology *t = vtpu_fabric_topology(ici->fabric);

    vtpu_topology_format(t, topo, len);
    *nchips = vtpu_topology_size(t);
}

/* ------------------------------------------------------------------ */
/* Properties                                                           */
/* ------------------------------------------------------------------ */

static char *vtpu_ici_get_topology(Object *obj, Error **errp)
{
    return g_strdup(VTPU_ICI(obj)->topology);
}

static void vtpu_ici_set_topology(Object *obj, const char *value,
                                  Error **errp)
{
    VTPUICIState *ici = VTPU_ICI(obj);

    if (vtpu_ici_fixed(ici, "topology", errp)) {
        return;
    }
    g_free(ici->topology);
    ici->topology = g_strdup(value);
}

static void vtpu_ici_get_hop_latency(Object *obj, Visitor *v,
                                     const char *name, void *opaque,
                                     Error **errp)
{
    visit_type_uint32(v, name, &VTPU_ICI(obj)->hop_latency, errp);
}

static void vtpu_ici_set_hop_latency(Object *obj, Visitor *v,
                                     const char *name, void *opaque,
                                     Error **errp)
{
    VTPUICIState *ici = VTPU_ICI(obj);
    uint32_t val;

    if (vtpu_ici_fixed(ici, name, errp) ||
        !visit_type_uint32(v, name, &val, errp)) {
        return;
    }
    ici->hop_latency = val;
}

static void vtpu_ici_get_launch_timeout(Object *obj, Visitor *v,
                                        const char *name, void *opaque,
                                        Error **errp)
{
    visit_type_uint32(v, name, &VTPU_ICI(obj)->launch_timeout, errp);
}

static void vtpu_ici_set_launch_timeout(Object *obj, Visitor *v,
                                        const char *name, void *opaque,
                                        Error **errp)
{
    VTPUICIState *ici = VTPU_ICI(obj);
    uint32_t val;

    if (!visit_type_uint32(v, name, &val, errp)) {
        return;
    }
    ici->launch_timeout = val;
    if (ici->fabric) {
        vtpu_fabric_set_launch_timeout(ici->fabric, val);
    }
}

static void vtpu_ici_get_link_bandwidth(Object *obj, Visitor *v,
                                        const char *name, void *opaque,
                                        Error **errp)
{
    visit_type_size(v, name, &VTPU_ICI(obj)->link_bandwidth, errp);
}

static void vtpu_ici_set_link_bandwidth(Object *obj, Visitor *v,
                                        const char *name, void *opaque,
                                        Error **errp)
{
    VTPUICIState *ici = VTPU_ICI(obj);
    uint64_t val;

    if (vtpu_ici_fixed(ici, name, errp) ||
        !visit_type_size(v, name, &val, errp)) {
        return;
    }
    if (!val) {
        error_setg(errp, "vtpu-ici '%s': property 'link-bandwidth' must be "
                   "> 0", vtpu_ici_id(ici));
        return;
    }
    ici->link_bandwidth = val;
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                           */
/* ------------------------------------------------------------------ */

static void vtpu_ici_complete(UserCreatable *uc, Error **errp)
{
    VTPUICIState *ici = VTPU_ICI(uc);
    vtpu_topology t;
    char err[256];

    if (!ici->topology) {
        error_setg(errp, "vtpu-ici '%s': property 'topology' is required "
                   "(e.g. topology=4 for a ring, 2x2, v5p-16)",
                   vtpu_ici_id(ici));
        return;
    }
    if (vtpu_topology_parse(ici->topology, &t, err, sizeof(err))) {
        error_setg(errp, "vtpu-ici '%s': property 'topology': %s",
                   vtpu_ici_id(ici), err);
        return;
    }
    ici->fabric = vtpu_fabric_new(&t, err, sizeof(err));
    if (!ici->fabric) {
        error_setg(errp, "vtpu-ici '%s': property 'topology': %s",
                   vtpu_ici_id(ici), err);
        return;
    }
    vtpu_fabric_set_params(ici->fabric, &(vtpu_fabric_params){
        .hop_latency_ns = ici->hop_latency,
        .link_gbps = ici->link_bandwidth / 1e9,
        .launch_timeout_ms = ici->launch_timeout,
    });
}

/* object-del while a device uses the fabric would pull it from under
 * the device's chip: only once every device has gone. */
static bool vtpu_ici_can_be_deleted(UserCreatable *uc)
{
    return VTPU_ICI(uc)->attached == 0;
}

static void vtpu_ici_init(Object *obj)
{
    VTPUICIState *ici = VTPU_ICI(obj);

    /* The engine's defaults (vtpu-slice.h, vtpu_fabric_params). */
    ici->hop_latency = 1000;
    ici->link_bandwidth = 45000000000ull; /* 45 GB/s */
}

static void vtpu_ici_finalize(Object *obj)
{
    VTPUICIState *ici = VTPU_ICI(obj);

    /* can_be_deleted: no chip is attached any more. */
    vtpu_fabric_free(ici->fabric);
    ici->fabric = NULL;
    g_free(ici->topology);
}

static void vtpu_ici_class_init(ObjectClass *oc, void *data)
{
    UserCreatableClass *ucc = USER_CREATABLE_CLASS(oc);

    ucc->complete = vtpu_ici_complete;
    ucc->can_be_deleted = vtpu_ici_can_be_deleted;

    object_class_property_add_str(oc, "topology", vtpu_ici_get_topology,
                                  vtpu_ici_set_topology);
    object_class_property_set_description(oc, "topology",
        "shape of the slice: N (a ring), XxY, XxYxZ (a torus), mesh:XxY, "
        "or a generation's slice such as v5p-16 (docs/multichip.md)");
    object_class_property_add(oc, "hop-latency", "uint32",
                              vtpu_ici_get_hop_latency,
                              vtpu_ici_set_hop_latency, NULL, NULL);
    object_class_property_set_description(oc, "hop-latency",
        "link model: nanoseconds per hop (counters and trace only; "
        "default 1000)");
    object_class_property_add(oc, "link-bandwidth", "size",
                              vtpu_ici_get_link_bandwidth,
                              vtpu_ici_set_link_bandwidth, NULL, NULL);
    object_class_property_set_description(oc, "link-bandwidth",
        "link model: bytes per second of one link direction (counters "
        "and trace only; default 45G)");
    object_class_property_add(oc, "launch-timeout", "uint32",
                              vtpu_ici_get_launch_timeout,
                              vtpu_ici_set_launch_timeout, NULL, NULL);
    object_class_property_set_description(oc, "launch-timeout",
        "milliseconds a collective launch waits for the other chips "
        "before it fails with an error (default 0: until they launch or "
        "the device is reset)");
}

static const TypeInfo vtpu_ici_info = {
    .name = TYPE_VTPU_ICI,
    .parent = TYPE_OBJECT,
    .instance_size = sizeof(VTPUICIState),
    .instance_init = vtpu_ici_init,
    .instance_finalize = vtpu_ici_finalize,
    .class_init = vtpu_ici_class_init,
    .interfaces = (InterfaceInfo[]) {
        { TYPE_USER_CREATABLE },
        { },
    },
};

static void vtpu_ici_register_types(void)
{
    type_register_static(&vtpu_ici_info);
}

type_init(vtpu_ici_register_types)
