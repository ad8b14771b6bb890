import torch

from training.mixup import mixup


def ramp_batch(n: int = 8) -> dict[str, torch.Tensor]:
    """Image i is filled with i, mask i with i / n and labels i with (i / n, 1 - i / n)."""
    values = torch.arange(n, dtype=torch.float32)
    return {
        "image": values.view(n, 1, 1, 1).expand(n, 3, 4, 4).clone(),
        "mask": (values / n).view(n, 1, 1, 1).expand(n, 1, 4, 4).clone(),
        "labels": torch.stack([values / n, 1 - values / n], dim=1),
    }


def test_alpha_zero_leaves_the_batch_untouched():
    batch = ramp_batch()
    assert mixup(batch, 0.0) is batch


def test_image_mask_and_labels_are_blended_with_the_same_weight_and_partner():
    torch.manual_seed(0)
    n = 8
    mixed = mixup(ramp_batch(n), 0.4)
    image = mixed["image"].mean(dim=(1, 2, 3))
    assert not torch.equal(image, torch.arange(n, dtype=torch.float32))
    assert torch.allclose(mixed["mask"].mean(dim=(1, 2, 3)), image / n)
    assert torch.allclose(mixed["labels"], torch.stack([image / n, 1 - image / n], dim=1))

