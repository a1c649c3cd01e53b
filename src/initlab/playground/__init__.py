"""The playground: a local web page to train small networks and watch what their initialization does.

``initlab playground`` serves it (:func:`initlab.playground.server.serve`); :func:`create_app` is
the Starlette application, :func:`validate` the one check every request goes through,
:func:`initlab.playground.server.running` a server in a background thread for tests and scripts.
The page (``static/``) draws everything itself on canvas: no CDN, works offline.

Driving the page from a script
------------------------------
These element ids are stable (tests use them; see ``tests/test_playground_browser.py``):

=========================  ==================================================================
id                         what
=========================  ==================================================================
``#dataset``               select: circles, moons, spirals, xor, gaussian_quantiles
``#noise``                 number; empty = the set's default (circles: the notebook's data)
``#hidden``                text, units per hidden layer, e.g. ``10,5`` (``#depth``, ``#width`` fill it)
``#activation``            select
``#init``                  select: every registered initializer, and ``notebook_he``
``#init-opt-<name>``       the selected initializer's options (e.g. ``#init-opt-scale``)
``#scale``                 number, multiplies every initial weight
``#optimizer``, ``#lr``    select (gd, sgd, momentum, adam), learning rate
``#iterations``, ``#seed`` numbers
``#notebook``              button: the notebook's experiment (circles, 2-10-5-1 relu, He seed 3, gd 0.01, 15000)
``#train``, ``#pause``,    buttons (``#pause`` reads "Resume" while paused)
``#reset``
``#pin``, ``#unpin``       buttons: keep the finished run to compare (``#pinned``, ``#pinned-boundary``)
``#status``                text and ``data-status``: connecting, idle, training, paused, done, diverged, error, disconnected
``#error``                 the server's messages for bad values (the fields get class ``invalid``)
``#iteration-value``       ``done / total``
``#loss-value``,           train and test loss (4 decimals)
``#test-loss-value``
``#accuracy-value``,       train and test accuracy (3 decimals)
``#test-accuracy-value``
``#boundary-summary``      "one colour: class 0 everywhere" or "two regions: 30% class 1"
``#symmetry``              one line per layer: "layer 1: 1 distinct unit of 10 (symmetric)"
``#loss-chart``,           canvases: loss curves, decision boundary, std of activations and
``#boundary``,             gradient norm against depth
``#std-chart``
``#layers``                one ``.layer-row`` (``#layer-1``, ...) per layer: activation and gradient histograms
=========================  ==================================================================

``window.playground`` holds the last progress message (``last``: boundary probabilities, per-layer
statistics), the run's ``config``, its loss ``history`` and the ``pinned`` run. The page's settings
are in its URL (``?dataset=moons&hidden=8,8&init=random&opt.scale=3``), so a link reproduces them.
"""

from .config import LIMITS, NOTEBOOK, PlaygroundConfig, options, validate

__all__ = ["LIMITS", "NOTEBOOK", "PlaygroundConfig", "create_app", "options", "validate"]


def create_app(*args, **kwargs):
    """The ASGI application (:func:`initlab.playground.server.create_app`; imported lazily: starlette is the optional ``web`` extra)."""
    from .server import create_app as _create_app

    return _create_app(*args, **kwargs)
