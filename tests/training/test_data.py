from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lesion.contract import IMAGE
from training.data import (
    DatasetError, LesionDataset, crop_to_lesion, load_image, load_mask, load_or_make_folds, make_folds, read_split,
)
from tests.training.conftest import PREFIX, write_split


def test_reads_the_real_training_split(isic_samples):
    assert len(isic_samples) == 2000
    assert sum(s.melanoma for s in isic_samples) == 374
    assert sum(s.seborrheic_keratosis for s in isic_samples) == 254
    sample = isic_samples[0]
    rgb, size = load_image(sample)
    assert rgb.shape == (256, 256, 3) and size == (256, 256)
    mask = load_mask(sample, size)
    assert mask.dtype == bool and 0 < mask.mean() < 1


def test_reads_any_image_size_and_splits_without_masks(tmp_path):
    root = write_split(tmp_path / "big", size=(1200, 900), masks=False)
    samples = read_split(root, "training")
    assert len(samples) == 4 and all(s.mask_path is None for s in samples)
    rgb, size = load_image(samples[0])
    assert size == (900, 1200)


def test_dataset_items_match_the_network_contract(synthetic_split):
    item = LesionDataset(read_split(synthetic_split))[0]
    assert item["image"].shape == IMAGE.shape and item["image"].dtype == np.float32
    assert item["mask"].shape == (1, 256, 256) and set(np.unique(item["mask"])) <= {0.0, 1.0}
    assert item["labels"].shape == (2,)


def test_lesion_crop_is_the_widened_square_around_the_lesion_enlarged_back():
    rows, cols = np.mgrid[0:256, 0:256]
    image = np.stack([rows, cols, np.zeros_like(rows)], axis=-1).astype(np.uint8)  # pixel = its own position
    mask = np.zeros((256, 256), np.uint8)
    mask[100:140, 60:120] = 255  # 40 tall, 60 wide: a 90 px square with margin 0.25, centred on (120, 90)
    out_image, out_mask = crop_to_lesion(image, mask, margin=0.25)
    assert out_image.shape == image.shape and out_mask.shape == mask.shape
    assert abs(int(out_image[0, 0, 0]) - 75) <= 1 and abs(int(out_image[0, 0, 1]) - 45) <= 1
    assert abs(int(out_image[-1, -1, 0]) - 164) <= 1 and abs(int(out_image[-1, -1, 1]) - 134) <= 1
    lesion_rows, lesion_cols = np.nonzero(out_mask > 127)
    assert abs(lesion_cols.max() + 1 - lesion_cols.min() - 60 * 256 / 90) <= 2
    assert abs(lesion_rows.max() + 1 - lesion_rows.min() - 40 * 256 / 90) <= 2


def test_lesion_crop_stays_inside_the_image_and_leaves_an_empty_mask_alone():
    image = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    mask = np.zeros((256, 256), np.uint8)
    same_image, same_mask = crop_to_lesion(image, mask, margin=0.25)
    assert same_image is image and same_mask is mask
    mask[0:200, 10:20] = 255  # the widened square would be 300 px: the whole image instead
    whole, _ = crop_to_lesion(image, mask, margin=0.25)
    assert np.array_equal(whole, image)


def test_a_lesion_cropped_dataset_crops_image_and_mask_alike(synthetic_split):
    samples = read_split(synthetic_split)
    whole, cropped = LesionDataset(samples)[0], LesionDataset(samples, lesion_crop=0.0)[0]
    assert whole["mask"].mean() < 0.3 and cropped["mask"].mean() > 0.95
    assert not np.allclose(whole["image"], cropped["image"])


def test_missing_folder(tmp_path):
    with pytest.raises(DatasetError, match="image folder missing"):
        read_split(tmp_path, "validation")


def test_image_without_label_row(synthetic_split):
    Image.new("RGB", (10, 10)).save(synthetic_split / f"{PREFIX}_Data" / "ISIC_9999999.jpg")
    with pytest.raises(DatasetError, match="ISIC_9999999.jpg: no label row"):
        read_split(synthetic_split)


def test_mask_of_wrong_size(synthetic_split):
    Image.new("L", (10, 10)).save(synthetic_split / f"{PREFIX}_Part1_GroundTruth" / "ISIC_0000001_segmentation.png")
    sample = read_split(synthetic_split)[1]
    with pytest.raises(DatasetError, match="ISIC_0000001_segmentation.png: mask is 10 x 10 but its image is 48 x 40"):
        load_mask(sample, load_image(sample)[1])


def test_missing_mask(synthetic_split):
    (synthetic_split / f"{PREFIX}_Part1_GroundTruth" / "ISIC_0000002_segmentation.png").unlink()
    with pytest.raises(DatasetError, match="ISIC_0000002.jpg: mask missing"):
        read_split(synthetic_split)


def test_corrupt_image_is_named(synthetic_split):
    (synthetic_split / f"{PREFIX}_Data" / "ISIC_0000003.jpg").write_bytes(b"\xff\xd8\xff garbage")
    sample = read_split(synthetic_split)[3]
    with pytest.raises(DatasetError, match="ISIC_0000003.jpg"):
        load_image(sample)


def test_folds_are_stratified_and_saved(isic_samples, tmp_path):
    folds = make_folds(isic_samples, k=5, seed=0)
    for fold in range(5):
        members = [s for s in isic_samples if folds[s.image_id] == fold]
        assert len(members) == 400
        assert abs(sum(s.melanoma for s in members) - 374 / 5) <= 1
    path = tmp_path / "folds.json"
    assert load_or_make_folds(path, isic_samples, 5, 0) == folds
    assert load_or_make_folds(path, isic_samples, 5, 123) == folds  # the saved file wins
    with pytest.raises(DatasetError, match="does not match"):
        load_or_make_folds(path, isic_samples, 4, 0)


def test_committed_fold_file_matches_the_data(isic_samples):
    path = Path(__file__).resolve().parents[2] / "splits" / "isic2017_training_5fold_seed0.json"
    assert load_or_make_folds(path, isic_samples, 5, 0) == make_folds(isic_samples, 5, 0)
