import cv2
import numpy as np
from matplotlib.figure import Figure

from s2ld_core.plotting import contact_sheet, draw_points, image_grid, plot_ced, save_figure


def test_draw_points_positions():
    img = np.zeros((8, 8, 3), np.uint8)
    out = draw_points(
        img, np.array([[2.0, 5.0], [6.0, 1.0]]), visible=np.array([True, False]), zoom=4, radius=3
    )
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    # (2,5) -> (2.5*4-0.5, 5.5*4-0.5) = (9.5, 21.5): filled disc covers its centre pixels
    assert out[21, 9, 1] > 200 and out[22, 10, 1] > 200
    # hollow ring at (6,1) -> (25.5, 5.5): centre dark, ring lit
    assert out[5, 25].max() < 50 and out[6, 26].max() < 50
    assert out[5, 22:30, 1].max() > 100
    assert img.max() == 0  # input untouched


def test_grid_and_sheet(tmp_path):
    ims = [np.full((10, 12, 3), i * 40, np.uint8) for i in range(5)]
    g = image_grid(ims, 2, pad=2, pad_value=255)
    assert g.shape == (2 + 3 * 12, 2 + 2 * 14, 3)
    assert (g[2:12, 2:14] == 0).all() and (g[2:12, 16:28] == 40).all() and (g[0] == 255).all()
    p = tmp_path / "s.png"
    sheet = contact_sheet({"input": ims[:3], "prediction": ims}, cell=48, path=p)
    back = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(back, sheet)
    assert sheet.shape[0] == 2 + 2 * 50


def test_plot_ced(tmp_path):
    fig = plot_ced({"a": np.array([0.01, 0.03, 0.05, 0.2]), "b": np.array([0.02, 0.04])}, title="t")
    assert isinstance(fig, Figure)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels[0] == "a: NME 7.25%, AUC@0.08 0.469"
    save_figure(fig, tmp_path / "c.png")
    assert cv2.imread(str(tmp_path / "c.png")) is not None
