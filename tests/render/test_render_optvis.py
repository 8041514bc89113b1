"""render.optvis: contrast of optimised pictures, their mosaics, the run and gallery views, saved files."""

import numpy as np
import pytest
from PIL import Image

from convis_widgets.render import new_figure
from convis_widgets.render.optvis import (
    GalleryView,
    OptvisView,
    display_image,
    picture_mosaic,
    save_gif,
    save_picture,
    save_strip,
)


def test_display_image_contrast_and_value_range():
    image = np.linspace(0.4, 0.6, 100, dtype=np.float32).reshape(1, 10, 10)
    stretched = display_image(image)  # 1st..99th percentile -> 0..1
    assert stretched.shape == (10, 10) and stretched.min() == 0.0 and stretched.max() == 1.0
    plain = display_image(image, contrast=False)
    np.testing.assert_allclose(plain, image[0])
    np.testing.assert_allclose(display_image(image, contrast=False, value_range=(0.4, 0.6)),
                               (image[0] - 0.4) / 0.2, atol=1e-6)
    assert display_image(np.zeros((3, 4, 4)), contrast=True).shape == (4, 4, 3)
    assert (display_image(np.full((1, 3, 3), 0.7)) == 0).all()  # flat: no contrast to show


def test_picture_mosaic_grey_and_rgb():
    grey = np.random.default_rng(0).random((5, 1, 4, 4)).astype(np.float32)
    mosaic = picture_mosaic(grey, contrast=False)
    assert mosaic.shape == (2 * 5 - 1, 3 * 5 - 1)
    np.testing.assert_allclose(mosaic[:4, 5:9], grey[1, 0])
    assert np.isnan(mosaic[4]).all() and np.isnan(mosaic[5:, 10:]).all()  # gaps and the empty cell
    rgb = picture_mosaic(np.random.default_rng(1).random((2, 3, 4, 4)), ncols=2)
    assert rgb.shape == (4, 9, 3) and (rgb[:, 4] == 1.0).all()  # white gap between colour pictures


def keys(ax) -> list[str]:
    legend = ax.get_legend()
    return [] if legend is None else [t.get_text() for t in legend.get_texts()]


def test_optvis_view_draws_image_curve_reference_and_strip():
    view = OptvisView(new_figure((6.0, 4.0)), strip=3)
    image = np.linspace(0, 1, 64, dtype=np.float32).reshape(1, 8, 8)
    view.update(image, [0, 1, 2, 4], [0.0, 0.5, 1.0, 3.0], title="conv1 map 2: step 4")
    np.testing.assert_allclose(view.im.get_array(), display_image(image))
    assert view.ax_img.get_title() == "conv1 map 2: step 4"
    x, y = view.curve.get_data()
    assert list(x) == [0, 1, 2, 4] and list(y) == [0.0, 0.5, 1.0, 3.0]
    assert view.ax_curve.get_xlim() == (0, 4)
    assert view.ax_curve.get_ylim() == pytest.approx((-0.15, 3.15))
    view.set_reference(5.0)
    assert view.ax_curve.get_ylim() == pytest.approx((-0.25, 5.25))  # the data set's best is shown
    snapshots = [(s, image * s / 4) for s in (0, 1, 2, 4)]
    view.set_strip(snapshots, {0: 0.0, 1: 0.5, 2: 1.0, 4: 3.0})
    assert [ax.get_title() for ax in view.ax_strip] == ["step 1", "step 2", "step 4"]  # the last three
    np.testing.assert_array_equal(view.marks.get_offsets(), [[1, 0.5], [2, 1.0], [4, 3.0]])
    assert keys(view.ax_curve) == ["best in data set", "snapshots"]  # no setting changed: no key for it
    view.set_changes([2])
    assert keys(view.ax_curve) == ["best in data set", "snapshots", "a setting changed"]
    assert view.ax_curve.get_legend()._loc == 4  # lower right: a rising curve leaves it free
    view.set_strip(snapshots[:2], {0: 0.0, 1: 0.5})  # a short run: two snapshots, no empty third tile
    assert [ax.get_visible() for ax in view.ax_strip] == [True, True, False]
    view.update(image, [0, 1, 2], [0.0, 0.0, 0.0], title="a map that never responded")
    assert view.ax_curve.get_legend()._loc == 1  # a flat curve at 0: the key goes up, off the curve
    view.clear()
    assert view.ax_curve.get_legend() is None  # before a run: nothing to name
    assert not any(ax.get_visible() for ax in view.ax_strip)
    assert view.ax_img.get_title() == "press Start" and len(view.curve.get_data()[0]) == 0
    assert all(ax.get_title() == "" for ax in view.ax_strip) and np.isnan(view.reference.get_ydata()[0])


def test_gallery_view_leaves_undone_cells_empty_and_strikes_out_silent_maps():
    view = GalleryView(new_figure((4.0, 4.0)))
    images = np.random.default_rng(2).random((4, 1, 3, 3)).astype(np.float32)
    done = np.array([True, True, True, False])
    responded = np.array([True, False, True, False])
    view.update(images, done, responded, title="relu3: 3 of 4 done", contrast=False)
    shown = np.ma.filled(view.im.get_array(), np.nan)
    assert shown.shape == (7, 7)
    np.testing.assert_allclose(shown[:3, :3], images[0, 0])
    assert np.isnan(shown[4:, 4:]).all()  # cell 3 not done: empty
    assert len(view.unresponsive_lines.get_segments()) == 5  # cell 1: outline and strike
    assert view.ax.get_title() == "relu3: 3 of 4 done" and view.geometry == (4, 3, 3, 2)
    assert [t.get_text() for t in view.legend.get_texts()] == [
        "struck out: the map never responded (its mean stayed at 0)"]
    view.update(images, done, responded, title="relu3", active=np.array([False] * 3 + [True]))
    assert [t.get_text() for t in view.legend.get_texts()] == [
        "struck out: the map never responded (its mean stayed at 0)", "framed: still being optimised"]
    view.update(images, np.ones(4, bool), np.ones(4, bool), title="relu3: all responded")
    assert view.legend is None  # nothing struck out or framed: no key
    view.show_message("press Start")
    assert view.legend is None


def test_saved_picture_gif_and_strip(tmp_path):
    image = np.linspace(0, 1, 49, dtype=np.float32).reshape(1, 7, 7)
    with Image.open(save_picture(image, tmp_path / "p.png", min_size=28)) as picture:
        big = np.asarray(picture)
    assert big.shape == (28, 28) and big[0, 0] == 0 and big[-1, -1] == 255
    np.testing.assert_array_equal(big[:4, :4], big[0, 0])  # nearest neighbour: 4x4 blocks
    with Image.open(save_gif([image, 1 - image], tmp_path / "a.gif", min_size=14)) as gif:
        assert gif.n_frames == 2 and gif.size == (14, 14)
    with pytest.raises(ValueError, match="no frames"):
        save_gif([], tmp_path / "b.gif")
    with Image.open(save_strip([(0, image), (8, 1 - image)], tmp_path / "s.png")) as picture:
        strip = np.asarray(picture.convert("L"))
    assert strip.shape[1] > strip.shape[0] and strip.std() > 10


def test_from_image_view_names_a_setting_change_only_once_there_is_one():
    from convis_widgets.render.from_image import FromImageView

    view = FromImageView(new_figure((7.0, 2.6)), curve_label="feature distance")
    assert view.ax_curve.get_title() == "feature distance" and keys(view.ax_curve) == []
    falling = [0.6, 0.2, 0.05, 0.01]
    view.show_curve([0, 1, 2, 3], falling, changed=[])
    assert keys(view.ax_curve) == []  # the title names the curve; no setting changed
    view.show_curve([0, 1, 2, 3], falling, changed=[2])
    assert keys(view.ax_curve) == ["a setting changed"]
    assert view.ax_curve.get_legend()._loc == 1  # upper right: a falling curve's end is low
    view.show_curve([0, 1, 2, 3], falling[::-1], changed=[2])
    assert view.ax_curve.get_legend()._loc == 4  # lower right for a rising one
