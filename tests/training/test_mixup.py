import pytest
import torch

from training.mixup import cutmix, mixup


def ramp_batch(n: int = 8) -> dict[str, torch.Tensor]:
    """Image i is filled with i, mask i with i / n and labels i with (i / n, 1 - i / n)."""
    values = torch.arange(n, dtype=torch.float32)
    return {
        "image": values.view(n, 1, 1, 1).expand(n, 3, 4, 4).clone(),
        "mask": (values / n).view(n, 1, 1, 1).expand(n, 1, 4, 4).clone(),
        "labels": torch.stack([values / n, 1 - values / n], dim=1),
    }


@pytest.mark.parametrize("blend", [mixup, cutmix])
def test_alpha_zero_leaves_the_batch_untouched(blend):
    batch = ramp_batch()
    assert blend(batch, 0.0) is batch


def test_image_mask_and_labels_are_blended_with_the_same_weight_and_partner():
    torch.manual_seed(0)
    n = 8
    mixed = mixup(ramp_batch(n), 0.4)
    image = mixed["image"].mean(dim=(1, 2, 3))
    assert not torch.equal(image, torch.arange(n, dtype=torch.float32))
    assert torch.allclose(mixed["mask"].mean(dim=(1, 2, 3)), image / n)
    assert torch.allclose(mixed["labels"], torch.stack([image / n, 1 - image / n], dim=1))


def test_cutmix_pastes_one_partner_box_into_image_and_mask_and_blends_labels_by_its_area():
    torch.manual_seed(0)
    n = 8
    batch = {k: v.repeat_interleave(4, -1).repeat_interleave(4, -2) if v.dim() == 4 else v
             for k, v in ramp_batch(n).items()}
    mixed = cutmix(batch, 1.0)
    image = mixed["image"][:, 0]
    own = torch.arange(n, dtype=torch.float32).view(n, 1, 1)
    pasted = image != own
    assert pasted.any() and not pasted.all()
    assert torch.equal(mixed["image"][:, 1], image) and torch.equal(mixed["mask"][:, 0], image / n)
    rows, cols = pasted.any(dim=2), pasted.any(dim=1)
    assert torch.equal(pasted, rows[:, :, None] & cols[:, None, :]), "the pasted pixels form one box"
    for i in range(n):
        partner = image[i][pasted[i]].unique()
        assert len(partner) <= 1, "the box comes from one partner"
        kept = 1 - pasted[i].float().mean()
        label = (kept * i + (1 - kept) * (partner.sum() if len(partner) else i)) / n
        assert torch.allclose(mixed["labels"][i], torch.stack([label, 1 - label]), atol=1e-6)
