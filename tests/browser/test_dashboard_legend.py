"""In the browser: the dashboard's format chart shows each format's whole name."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Served, delivery, sign_in


def test_the_format_legend_is_not_cut_off(served: Served, page: Any) -> None:
    """Trial 11, F20: 'JPEG File Interchange For…' with the legend on the right."""
    served.user("gert", None, admin=True)
    served.repo.run(
        "ingest",
        delivery(served.tmp / "legend", images=2),
        "--collection",
        "photos",
        "--organisation",
        "ours",
    )
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, "gert")
    page.goto("/")
    expect(page.locator("#chart-formats")).to_be_visible()
    page.wait_for_function("window.Chart && Chart.getChart('chart-formats')")
    fits = page.evaluate(
        """() => {
          const chart = Chart.getChart('chart-formats');
          const ctx = chart.ctx;
          const labels = chart.options.plugins.legend.labels;
          ctx.font = Chart.helpers.toFont(labels.font || Chart.defaults.font).string;
          return chart.legend.legendItems.map((item, i) => {
            const box = chart.legend.legendHitBoxes[i];
            const needed = ctx.measureText(item.text).width + labels.boxWidth;
            return [item.text, box.left + box.width <= chart.width + 1, box.width >= needed];
          });
        }"""
    )
    assert fits and any("JPEG" in text or "Portable" in text for text, _, _ in fits)
    assert [text for text, inside, whole in fits if not (inside and whole)] == []
