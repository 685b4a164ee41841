// SPDX-License-Identifier: GPL-2.0
/*
 * vtpu_gem.c - HBM: the allocator (drm_mm over [0, HBM_SIZE)), buffer
 * objects and their CPU access (mmap through the BAR2 aperture, copies
 * through a bounce buffer).
 *
 * A BO is a range of HBM with a fixed offset (kernels address HBM by
 * offset), zeroed with a FILL before anyone sees it.  BOs that lie in
 * [0, aperture) can be mapped: APERTURE_BASE stays 0, so HBM offset o is
 * BAR2 offset o.  Allocations go to the lowest hole that fits, so small
 * BOs made first land in the aperture; DRM_VTPU_BO_CREATE_MAPPABLE
 * insists on it.  Program images (vtpu_job.c) go to the highest hole.
 */
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include <drm/drm_drv.h>
#include <drm/drm_managed.h>
#include <drm/drm_vma_manager.h>

#include "vtpu_drv.h"

static void vtpu_hbm_fini(struct drm_device *dev, void *unused)
{
	drm_mm_takedown(&to_vtpu(dev)->mm);
}

int vtpu_hbm_init(struct vtpu_device *vdev)
{
	int ret;

	ret = drmm_mutex_init(&vdev->drm, &vdev->mm_lock);
	if (ret)
		return ret;
	drm_mm_init(&vdev->mm, 0, vdev->hbm_size);
	vdev->hbm_free = vdev->hbm_size;
	return drmm_add_action_or_reset(&vdev->drm, vtpu_hbm_fini, NULL);
}

int vtpu_hbm_alloc(struct vtpu_device *vdev, struct drm_mm_node *node,
		   u64 size, bool mappable, bool high)
{
	u64 end = mappable ? vdev->aper_size : vdev->hbm_size;
	int ret;

	size = round_up(size, PAGE_SIZE);
	if (!size || size > end)
		return -ENOSPC;
	mutex_lock(&vdev->mm_lock);
	ret = drm_mm_insert_node_in_range(&vdev->mm, node, size, PAGE_SIZE, 0,
					  0, end, high ? DRM_MM_INSERT_HIGH :
					  DRM_MM_INSERT_LOW);
	if (!ret)
		vdev->hbm_free -= node->size;
	mutex_unlock(&vdev->mm_lock);
	return ret;
}

void vtpu_hbm_free(struct vtpu_device *vdev, struct drm_mm_node *node)
{
	mutex_lock(&vdev->mm_lock);
	if (drm_mm_node_allocated(node)) {
		vdev->hbm_free += node->size;
		drm_mm_remove_node(node);
	}
	mutex_unlock(&vdev->mm_lock);
}

/* Zero an allocated range with a FILL and wait for it. */
int vtpu_hbm_zero(struct vtpu_device *vdev, const struct drm_mm_node *node)
{
	struct vtpu_cmd c;

	vtpu_cmd_init(&c, VTPU_OP_FILL, 0);
	c.dst = node->start;
	c.len = node->size;
	c.arg = 0;
	return vtpu_run_cmd(vdev, &c, NULL);
}

/*
 * Copy between user memory and HBM through the bounce buffer, one
 * COPY_H2D / COPY_D2H command per chunk.
 */
static int vtpu_hbm_rw_user(struct vtpu_device *vdev, u64 hbm,
			    void __user *user, u64 len, bool write)
{
	struct vtpu_cmd c;
	u64 n;
	int ret = 0;

	mutex_lock(&vdev->bounce_lock);
	while (len) {
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		n = min_t(u64, len, VTPU_BOUNCE_SIZE);
		if (write) {
			if (copy_from_user(vdev->bounce, user, n)) {
				ret = -EFAULT;
				break;
			}
			vtpu_cmd_init(&c, VTPU_OP_COPY_H2D, 0);
			c.src = vdev->bounce_dma;
			c.dst = hbm;
		} else {
			vtpu_cmd_init(&c, VTPU_OP_COPY_D2H, 0);
			c.src = hbm;
			c.dst = vdev->bounce_dma;
		}
		c.len = n;
		ret = vtpu_run_cmd(vdev, &c, NULL);
		if (ret)
			break;
		if (!write && copy_to_user(user, vdev->bounce, n)) {
			ret = -EFAULT;
			break;
		}
		user += n;
		hbm += n;
		len -= n;
	}
	mutex_unlock(&vdev->bounce_lock);
	return ret;
}

int vtpu_hbm_write_user(struct vtpu_device *vdev, u64 hbm,
			const void __user *src, u64 len)
{
	return vtpu_hbm_rw_user(vdev, hbm, (void __user *)src, len, true);
}

/* ------------------------------------------------------------------ */
/* Buffer objects                                                       */
/* ------------------------------------------------------------------ */

static void vtpu_bo_free(struct drm_gem_object *obj)
{
	struct vtpu_bo *bo = to_vtpu_bo(obj);
	struct vtpu_device *vdev = to_vtpu(obj->dev);

	vtpu_hbm_free(vdev, &bo->node);
	drm_gem_object_release(obj);
	kfree(bo);
	atomic_dec(&vdev->live_bos);
	drm_dev_put(&vdev->drm);
}

static vm_fault_t vtpu_bo_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct drm_gem_object *obj = vma->vm_private_data;
	struct vtpu_bo *bo = to_vtpu_bo(obj);
	struct vtpu_device *vdev = to_vtpu(obj->dev);
	unsigned long pgoff;
	vm_fault_t ret;
	int idx;

	/* after unplug the aperture is gone: no new mappings of it */
	if (!drm_dev_enter(obj->dev, &idx))
		return VM_FAULT_SIGBUS;
	pgoff = vmf->pgoff - drm_vma_node_start(&obj->vma_node);
	if (READ_ONCE(vdev->dead) || pgoff >= (obj->size >> PAGE_SHIFT))
		ret = VM_FAULT_SIGBUS;
	else
		ret = vmf_insert_pfn(vma, vmf->address,
				     PHYS_PFN(vdev->aper_phys + bo->node.start) +
				     pgoff);
	drm_dev_exit(idx);
	return ret;
}

static const struct vm_operations_struct vtpu_bo_vm_ops = {
	.fault = vtpu_bo_fault,
	.open = drm_gem_vm_open,
	.close = drm_gem_vm_close,
};

static int vtpu_bo_mmap(struct drm_gem_object *obj, struct vm_area_struct *vma)
{
	if (!to_vtpu_bo(obj)->mappable)
		return -EINVAL;
	vm_flags_set(vma, VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP);
	vma->vm_page_prot =
		pgprot_writecombine(vm_get_page_prot(vma->vm_flags));
	return 0;
}

static void vtpu_bo_print_info(struct drm_printer *p, unsigned int indent,
			       const struct drm_gem_object *obj)
{
	const struct vtpu_bo *bo = container_of(obj, struct vtpu_bo, base);

	drm_printf_indent(p, indent, "hbm=0x%llx mappable=%d\n",
			  bo->node.start, bo->mappable);
}

static const struct drm_gem_object_funcs vtpu_gem_funcs = {
	.free = vtpu_bo_free,
	.mmap = vtpu_bo_mmap,
	.print_info = vtpu_bo_print_info,
	.vm_ops = &vtpu_bo_vm_ops,
};

/* A zeroed BO of at least `size` bytes (one reference, no handle). */
struct vtpu_bo *vtpu_bo_create(struct vtpu_device *vdev, u64 size, u32 flags)
{
	bool need_map = flags & DRM_VTPU_BO_CREATE_MAPPABLE;
	struct vtpu_bo *bo;
	int ret;

	if (!size)
		return ERR_PTR(-EINVAL);
	if (size > vdev->hbm_size)
		return ERR_PTR(-ENOSPC);
	size = round_up(size, PAGE_SIZE);
	bo = kzalloc(sizeof(*bo), GFP_KERNEL);
	if (!bo)
		return ERR_PTR(-ENOMEM);
	drm_gem_private_object_init(&vdev->drm, &bo->base, size);
	bo->base.funcs = &vtpu_gem_funcs;
	drm_dev_get(&vdev->drm);
	atomic_inc(&vdev->live_bos);

	ret = vtpu_hbm_alloc(vdev, &bo->node, size, need_map, false);
	if (ret)
		goto fail;
	/* nothing of a previous owner may show through */
	ret = vtpu_hbm_zero(vdev, &bo->node);
	if (ret)
		goto fail;
	bo->mappable = (vdev->caps & VTPU_FMASK(CAPS, APERTURE)) &&
		       bo->node.start + bo->node.size <= vdev->aper_size;
	if (bo->mappable) {
		ret = drm_gem_create_mmap_offset(&bo->base);
		if (ret)
			goto fail;
	}
	return bo;

fail:
	drm_gem_object_put(&bo->base);
	return ERR_PTR(ret);
}

int vtpu_ioctl_bo_create(struct drm_device *dev, void *data,
			 struct drm_file *file)
{
	struct drm_vtpu_bo_create *args = data;
	struct vtpu_bo *bo;
	int ret;

	if (args->flags & ~DRM_VTPU_BO_CREATE_MAPPABLE)
		return -EINVAL;
	bo = vtpu_bo_create(to_vtpu(dev), args->size, args->flags);
	if (IS_ERR(bo))
		return PTR_ERR(bo);
	ret = drm_gem_handle_create(file, &bo->base, &args->handle);
	if (!ret)
		args->hbm_offset = bo->node.start;
	drm_gem_object_put(&bo->base);
	return ret;
}

int vtpu_ioctl_bo_info(struct drm_device *dev, void *data,
		       struct drm_file *file)
{
	struct drm_vtpu_bo_info *args = data;
	struct drm_gem_object *obj;
	struct vtpu_bo *bo;

	obj = drm_gem_object_lookup(file, args->handle);
	if (!obj)
		return -ENOENT;
	bo = to_vtpu_bo(obj);
	args->flags = bo->mappable ? DRM_VTPU_BO_MAPPABLE : 0;
	args->size = obj->size;
	args->hbm_offset = bo->node.start;
	args->mmap_offset = bo->mappable ?
			    drm_vma_node_offset_addr(&obj->vma_node) : 0;
	drm_gem_object_put(obj);
	return 0;
}

int vtpu_ioctl_bo_rw(struct drm_device *dev, void *data,
		     struct drm_file *file)
{
	struct drm_vtpu_bo_rw *args = data;
	struct drm_gem_object *obj;
	struct vtpu_bo *bo;
	int ret;

	if (args->write > 1)
		return -EINVAL;
	obj = drm_gem_object_lookup(file, args->handle);
	if (!obj)
		return -ENOENT;
	bo = to_vtpu_bo(obj);
	if (args->offset > obj->size || args->size > obj->size - args->offset)
		ret = -EINVAL;
	else
		ret = vtpu_hbm_rw_user(to_vtpu(dev),
				       bo->node.start + args->offset,
				       u64_to_user_ptr(args->user_ptr),
				       args->size, args->write);
	drm_gem_object_put(obj);
	return ret;
}
