"""ClusterPanel in a real Jupyter kernel: the widget renders and its buttons drive the cluster."""

from __future__ import annotations

import json

import pytest

jupyter_client = pytest.importorskip("jupyter_client")

CODE = r'''
import json
from IPython.display import display
from labkit.cluster_panel import ClusterPanel
import ipywidgets as w

panel = ClusterPanel(backend="local")
display(panel)
box = panel._widget()
kinds = sorted({type(c).__name__ for c in box.children} | {type(g).__name__ for c in box.children
               if isinstance(c, w.HBox) for g in c.children})
buttons = sorted(b.description for b in panel._widgets.values() if isinstance(b, w.Button))
panel._widgets["n"].value = 2
panel._widgets["start"].click()
panel._widgets["scale"].click()
panel.wait_for_workers(2)
panel._update_widget()
running = panel._widgets["status"].value
panel._widgets["stop"].click()
print("RESULT" + json.dumps({"kinds": kinds, "buttons": buttons, "running": running,
                             "stopped": panel._widgets["status"].value, "cluster": panel.cluster is None}))
'''


def test_panel_in_a_real_kernel():
    km, kc = jupyter_client.manager.start_new_kernel(kernel_name="python3")
    try:
        outputs: list[dict] = []
        reply = kc.execute_interactive(CODE, timeout=180, output_hook=outputs.append)
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    widget_views = [o for o in outputs if o["msg_type"] == "display_data"
                    and "application/vnd.jupyter.widget-view+json" in o["content"]["data"]]
    assert widget_views, "the panel did not display as a widget"
    text = "".join(o["content"].get("text", "") for o in outputs if o["msg_type"] == "stream")
    result = json.loads(text.split("RESULT", 1)[1])
    assert {"HBox", "HTML", "Button", "BoundedIntText"} <= set(result["kinds"])
    assert result["buttons"] == ["Adapt", "Scale", "Start", "Stop"]
    assert "running: 2 workers" in result["running"]
    assert "stopped" in result["stopped"] and result["cluster"]
