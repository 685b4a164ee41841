// SPDX-License-Identifier: GPL-2.0
/*
 * vtpu_drv.c - PCI probe/remove, the DRM accel device (/dev/accel/accelN),
 * files, GET_PARAM and the sysfs attributes (docs/linux.md).
 *
 * Unplug.  remove() first stops the device and ends every job with
 * -ENODEV (so no ioctl sleeps on one), then drm_dev_unplug() waits for
 * the ioctls inside drm_dev_enter() to leave and zaps user mappings of
 * the aperture; from then on every ioctl fails with -ENODEV and a fault
 * on an old mapping gets SIGBUS.  What files still hold (BOs, job
 * records) is freed when they close, without touching the device.
 */
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/slab.h>

#include <drm/drm_accel.h>
#include <drm/drm_drv.h>
#include <drm/drm_gem.h>
#include <drm/drm_ioctl.h>
#include <drm/drm_managed.h>
#include <drm/drm_print.h>

#include "vtpu_drv.h"

static bool vtpu_msix = true;
module_param_named(msix, vtpu_msix, bool, 0444);
MODULE_PARM_DESC(msix, "use MSI-X when the platform has it (else INTx)");

static int vtpu_open(struct drm_device *dev, struct drm_file *file)
{
	struct vtpu_file *vfile;

	vfile = kzalloc(sizeof(*vfile), GFP_KERNEL);
	if (!vfile)
		return -ENOMEM;
	vfile->vdev = to_vtpu(dev);
	mutex_init(&vfile->lock);
	xa_init(&vfile->jobs);
	vfile->fence_context = dma_fence_context_alloc(1);
	file->driver_priv = vfile;
	return 0;
}

static void vtpu_postclose(struct drm_device *dev, struct drm_file *file)
{
	struct vtpu_file *vfile = file->driver_priv;

	vtpu_slots_release(vfile);
	vtpu_file_jobs_fini(vfile);
	mutex_destroy(&vfile->lock);
	kfree(vfile);
}

static int vtpu_ioctl_get_param(struct drm_device *dev, void *data,
				struct drm_file *file)
{
	struct vtpu_device *vdev = to_vtpu(dev);
	struct drm_vtpu_get_param *args = data;

	if (args->pad)
		return -EINVAL;
	switch (args->param) {
	case DRM_VTPU_PARAM_UAPI_VERSION:
		args->value = DRM_VTPU_UAPI_VERSION;
		break;
	case DRM_VTPU_PARAM_DEVICE_VERSION:
		args->value = vdev->version;
		break;
	case DRM_VTPU_PARAM_GEN:
		args->value = (u32)vdev->gen[0] | (u32)vdev->gen[1] << 8 |
			      (u32)vdev->gen[2] << 16 | (u32)vdev->gen[3] << 24;
		break;
	case DRM_VTPU_PARAM_NUM_TCS:
		args->value = vdev->num_tcs;
		break;
	case DRM_VTPU_PARAM_NUM_SEMS:
		args->value = vdev->num_sems;
		break;
	case DRM_VTPU_PARAM_HBM_SIZE:
		args->value = vdev->hbm_size;
		break;
	case DRM_VTPU_PARAM_VMEM_SIZE:
		args->value = vdev->vmem_size;
		break;
	case DRM_VTPU_PARAM_SMEM_SIZE:
		args->value = vdev->smem_size;
		break;
	case DRM_VTPU_PARAM_IMEM_SIZE:
		args->value = vdev->imem_size;
		break;
	case DRM_VTPU_PARAM_MXU:
		args->value = vdev->mxu;
		break;
	case DRM_VTPU_PARAM_HBM_FREE:
		mutex_lock(&vdev->mm_lock);
		args->value = vdev->hbm_free;
		mutex_unlock(&vdev->mm_lock);
		break;
	case DRM_VTPU_PARAM_JOB_TIMEOUT_MS:
		args->value = READ_ONCE(vtpu_job_timeout_ms);
		break;
	case DRM_VTPU_PARAM_COLLECTIVE_WAIT_MS:
		args->value = READ_ONCE(vtpu_collective_wait_ms);
		break;
	case DRM_VTPU_PARAM_APERTURE_SIZE:
		args->value = vdev->aper_size;
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

/*
 * Every ioctl runs inside drm_dev_enter()/drm_dev_exit(): after unplug
 * they fail with -ENODEV, and remove() waits for those in progress.  They
 * fail so from the moment remove() ends the jobs, before the unplug.
 */
typedef int (*vtpu_ioctl_fn)(struct drm_device *dev, void *data,
			     struct drm_file *file);

static int vtpu_guard(vtpu_ioctl_fn fn, struct drm_device *dev, void *data,
		      struct drm_file *file)
{
	int idx, ret = -ENODEV;

	if (!drm_dev_enter(dev, &idx))
		return -ENODEV;
	/* dead: being removed (jobs already ended) or failed to reset */
	if (!READ_ONCE(to_vtpu(dev)->dead))
		ret = fn(dev, data, file);
	drm_dev_exit(idx);
	return ret;
}

#define VTPU_GUARDED(name)						\
static int vtpu_guarded_##name(struct drm_device *dev, void *data,	\
			       struct drm_file *file)			\
{									\
	return vtpu_guard(vtpu_ioctl_##name, dev, data, file);		\
}

VTPU_GUARDED(get_param)
VTPU_GUARDED(bo_create)
VTPU_GUARDED(bo_info)
VTPU_GUARDED(bo_rw)
VTPU_GUARDED(module_load)
VTPU_GUARDED(module_unload)
VTPU_GUARDED(submit)
VTPU_GUARDED(wait)
VTPU_GUARDED(job_error)

#define VTPU_IOCTL(NAME, name) \
	DRM_IOCTL_DEF_DRV(VTPU_##NAME, vtpu_guarded_##name, 0)

static const struct drm_ioctl_desc vtpu_ioctls[] = {
	VTPU_IOCTL(GET_PARAM, get_param),
	VTPU_IOCTL(BO_CREATE, bo_create),
	VTPU_IOCTL(BO_INFO, bo_info),
	VTPU_IOCTL(BO_RW, bo_rw),
	VTPU_IOCTL(MODULE_LOAD, module_load),
	VTPU_IOCTL(MODULE_UNLOAD, module_unload),
	VTPU_IOCTL(SUBMIT, submit),
	VTPU_IOCTL(WAIT, wait),
	VTPU_IOCTL(JOB_ERROR, job_error),
};

DEFINE_DRM_ACCEL_FOPS(vtpu_fops);

static const struct drm_driver vtpu_drm_driver = {
	.driver_features = DRIVER_GEM | DRIVER_COMPUTE_ACCEL,
	.open = vtpu_open,
	.postclose = vtpu_postclose,
	.ioctls = vtpu_ioctls,
	.num_ioctls = ARRAY_SIZE(vtpu_ioctls),
	.fops = &vtpu_fops,
	.name = VTPU_DRIVER_NAME,
	.desc = "vtpu TPU-like accelerator",
	.major = 1,
	.minor = 0,
};

/* ------------------------------------------------------------------ */
/* sysfs: the chip's shape, on the PCI device                           */
/* ------------------------------------------------------------------ */

static struct vtpu_device *vtpu_from_dev(struct device *dev)
{
	return pci_get_drvdata(to_pci_dev(dev));
}

static ssize_t generation_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%s\n", vtpu_from_dev(dev)->gen);
}
static DEVICE_ATTR_RO(generation);

static ssize_t num_tcs_show(struct device *dev,
			    struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", vtpu_from_dev(dev)->num_tcs);
}
static DEVICE_ATTR_RO(num_tcs);

static ssize_t hbm_size_show(struct device *dev,
			     struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n", vtpu_from_dev(dev)->hbm_size);
}
static DEVICE_ATTR_RO(hbm_size);

static ssize_t vmem_size_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", vtpu_from_dev(dev)->vmem_size);
}
static DEVICE_ATTR_RO(vmem_size);

static ssize_t smem_size_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", vtpu_from_dev(dev)->smem_size);
}
static DEVICE_ATTR_RO(smem_size);

static ssize_t imem_size_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", vtpu_from_dev(dev)->imem_size);
}
static DEVICE_ATTR_RO(imem_size);

static ssize_t aperture_size_show(struct device *dev,
				  struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n", vtpu_from_dev(dev)->aper_size);
}
static DEVICE_ATTR_RO(aperture_size);

static struct attribute *vtpu_attrs[] = {
	&dev_attr_generation.attr,
	&dev_attr_num_tcs.attr,
	&dev_attr_hbm_size.attr,
	&dev_attr_vmem_size.attr,
	&dev_attr_smem_size.attr,
	&dev_attr_imem_size.attr,
	&dev_attr_aperture_size.attr,
	NULL,
};
ATTRIBUTE_GROUPS(vtpu);

/* ------------------------------------------------------------------ */
/* PCI                                                                  */
/* ------------------------------------------------------------------ */

static int vtpu_map_bars(struct vtpu_device *vdev)
{
	struct pci_dev *pdev = vdev->pdev;
	u64 len;
	int ret;

	vdev->regs = pcim_iomap_region(pdev, VTPU_BAR_REGS, "vtpu-regs");
	if (IS_ERR(vdev->regs))
		return PTR_ERR(vdev->regs);
	if (pci_resource_len(pdev, VTPU_BAR_REGS) < VTPU_BAR0_SIZE)
		return -ENODEV;
	len = pci_resource_len(pdev, VTPU_BAR_APERTURE);
	if (!len)
		return 0;	/* no aperture: no BO can be mapped */
	ret = pcim_request_region(pdev, VTPU_BAR_APERTURE, "vtpu-hbm");
	if (ret)
		return ret;
	vdev->aper_phys = pci_resource_start(pdev, VTPU_BAR_APERTURE);
	vdev->aper_size = len;
	return 0;
}

/* After vtpu_hw_probe(): what of BAR2 is HBM, page by page. */
static void vtpu_aperture_init(struct vtpu_device *vdev)
{
	u64 win = vtpu_rd(vdev, VTPU_A_APERTURE_SIZE);

	if (!(vdev->caps & VTPU_FMASK(CAPS, APERTURE)) ||
	    !IS_ALIGNED(vdev->aper_phys, PAGE_SIZE))
		win = 0;
	vdev->aper_size = min3(vdev->aper_size, win, vdev->hbm_size);
	vdev->aper_size = round_down(vdev->aper_size, PAGE_SIZE);
}

static int vtpu_setup_irq(struct vtpu_device *vdev)
{
	struct pci_dev *pdev = vdev->pdev;
	unsigned int types = PCI_IRQ_INTX;
	int ret;

	if (vtpu_msix)
		types |= PCI_IRQ_MSIX;
	ret = pci_alloc_irq_vectors(pdev, 1, 1, types);
	if (ret < 0)
		return ret;
	vdev->msix = pdev->msix_enabled;
	vdev->irq = pci_irq_vector(pdev, 0);
	/*
	 * INTx is level-triggered and may lag the acknowledge (QEMU lowers
	 * it from a bottom half): keep it masked until the thread is done,
	 * or the lag reads as a storm of interrupts that are not ours.
	 */
	ret = request_threaded_irq(vdev->irq, vtpu_irq, vtpu_irq_thread,
				   vdev->msix ? IRQF_SHARED :
				   IRQF_SHARED | IRQF_ONESHOT,
				   VTPU_DRIVER_NAME, vdev);
	if (ret)
		pci_free_irq_vectors(pdev);
	return ret;
}

static void vtpu_free_irq(struct vtpu_device *vdev)
{
	free_irq(vdev->irq, vdev);
	pci_free_irq_vectors(vdev->pdev);
}

static int vtpu_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct vtpu_device *vdev;
	struct device *dev = &pdev->dev;
	int ret;

	vdev = devm_drm_dev_alloc(dev, &vtpu_drm_driver, struct vtpu_device,
				  drm);
	if (IS_ERR(vdev))
		return PTR_ERR(vdev);
	vdev->pdev = pdev;
	pci_set_drvdata(pdev, vdev);

	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	ret = vtpu_map_bars(vdev);
	if (ret)
		return dev_err_probe(dev, ret, "cannot map the BARs\n");
	pci_set_master(pdev);
	ret = dma_set_mask_and_coherent(dev, DMA_BIT_MASK(64));
	if (ret)
		return dev_err_probe(dev, ret, "no 64-bit DMA\n");

	ret = vtpu_hw_probe(vdev);
	if (ret)
		return ret;
	vtpu_aperture_init(vdev);

	ret = drmm_mutex_init(&vdev->drm, &vdev->lock);
	if (!ret)
		ret = drmm_mutex_init(&vdev->drm, &vdev->bounce_lock);
	if (!ret)
		ret = vtpu_hbm_init(vdev);
	if (ret)
		return ret;
	vdev->ring = dmam_alloc_coherent(dev, VTPU_RING_ENTRIES *
					 sizeof(*vdev->ring), &vdev->ring_dma,
					 GFP_KERNEL);
	vdev->bounce = dmam_alloc_coherent(dev, VTPU_BOUNCE_SIZE,
					   &vdev->bounce_dma, GFP_KERNEL);
	if (!vdev->ring || !vdev->bounce)
		return -ENOMEM;
	ret = vtpu_jobs_init(vdev);
	if (ret)
		return ret;

	ret = vtpu_hw_reset(vdev);
	if (ret)
		goto err_jobs;
	vtpu_hw_ring_start(vdev);
	ret = vtpu_setup_irq(vdev);
	if (ret) {
		dev_err(dev, "no interrupt: %d\n", ret);
		goto err_reset;
	}
	ret = drm_dev_register(&vdev->drm, 0);
	if (ret)
		goto err_irq;
	vtpu_debugfs_init(vdev);

	drm_info(&vdev->drm,
		 "vtpu %s: %u TC(s), %llu MiB HBM (%llu MiB mappable), %s\n",
		 vdev->gen, vdev->num_tcs, vdev->hbm_size >> 20,
		 vdev->aper_size >> 20, vdev->msix ? "MSI-X" : "INTx");
	return 0;

err_irq:
	vtpu_free_irq(vdev);
err_reset:
	vtpu_hw_reset(vdev);
err_jobs:
	vtpu_jobs_fini(vdev);
	return ret;
}

static void vtpu_remove(struct pci_dev *pdev)
{
	struct vtpu_device *vdev = pci_get_drvdata(pdev);

	vtpu_jobs_kill(vdev, -ENODEV);
	/*
	 * Mappings of the aperture go now (the fault handler refuses new
	 * ones once the device is dead), not only when drm_dev_unplug() has
	 * waited for every ioctl to leave.
	 */
	unmap_mapping_range(vdev->drm.anon_inode->i_mapping, 0, 0, 1);
	drm_dev_unplug(&vdev->drm);
	vtpu_free_irq(vdev);
	vtpu_jobs_fini(vdev);
}

static void vtpu_shutdown(struct pci_dev *pdev)
{
	struct vtpu_device *vdev = pci_get_drvdata(pdev);

	/* stop what runs; files keep failing with -ENODEV */
	vtpu_jobs_kill(vdev, -ENODEV);
}

static const struct pci_device_id vtpu_pci_ids[] = {
	{ PCI_DEVICE(VTPU_PCI_VENDOR_ID, VTPU_PCI_DEVICE_ID) },
	{ }
};
MODULE_DEVICE_TABLE(pci, vtpu_pci_ids);

static struct pci_driver vtpu_pci_driver = {
	.name = VTPU_DRIVER_NAME,
	.id_table = vtpu_pci_ids,
	.probe = vtpu_probe,
	.remove = vtpu_remove,
	.shutdown = vtpu_shutdown,
	.dev_groups = vtpu_groups,
};
module_pci_driver(vtpu_pci_driver);

MODULE_DESCRIPTION("vtpu TPU-like accelerator (DRM accel)");
MODULE_LICENSE("GPL");
