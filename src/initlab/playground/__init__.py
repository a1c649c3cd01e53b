"""The playground: a local web page to train small networks and watch what their initialization does.

``initlab playground`` serves it (:func:`initlab.playground.server.serve`); :func:`create_app` is
the Starlette application, :func:`validate` the one check every request goes through,
:func:`initlab.playground.server.running` a server in a background thread for tests and scripts.
The page (``static/``) draws everything itself on canvas: no CDN, works offline.

Driving the page from a script
------------------------------
These element ids are stable (tests use them; see ``tests/test_playground_page.py``):

=========================  ==================================================================
id                         what
=========================  ==================================================================
``#dataset``               select: circles, moons, spirals, xor, gaussian_quantiles
``#noise``                 number; empty = the set's default (circles: the notebook's data)
``#hidden``                text, units per hidden layer, e.g. ``10,5``; ``#depth`` and ``#width``
``#depth``, ``#width``     numbers that always agree with ``#hidden`` (editing one rewrites the
                           others; ``#width`` is blank with placeholder "mixed" for e.g. ``10,5``)
``#activation``            select
``#parametrization``       select: standard, ntk, mup (:mod:`initlab.parametrization`; URL ``parametrization`` or
                           ``param``, left out of the URL when standard); ``#base-width``: number, muP's base
                           hidden width (URL ``base_width``; empty: 1)
``#residual``              checkbox: a residual net (issue #15); on: ``#blocks`` 8 (or the last value), ``#hidden`` its
                           first width (the trunk's), ``#depth`` disabled; off: ``#blocks`` 0, the plain MLP
``#blocks``                number 0..32: residual blocks (0: the plain MLP); ``#residual-hint`` shown when > 0
``#branch-depth``,         number 1..4 (layers per branch) and select none/layer (pre-LN), enabled only when
``#norm``                  ``#blocks`` > 0
``#init``                  select: every initializer of ``options()`` (LSUV and ``notebook_he``
                           included), each option's title its formula; ``#init-summary`` the chosen one's;
                           with ``#blocks`` 0 the structural ones (fixup, rezero, skipinit, zero_last) are
                           disabled and hidden, with ``#blocks`` > 0 ``notebook_he`` and ``lsuv`` are
``#init-opt-<name>``       the selected initializer's options (e.g. ``#init-opt-scale``)
``#scale``                 number, multiplies every initial weight
``#optimizer``, ``#lr``    select (gd, sgd, momentum, adam), learning rate
``#iterations``, ``#seed`` numbers
``#seeds``                 number 1..32: models trained at once, one initial draw each (the spread)
``#notebook``              button: the notebook's experiment (circles, 2-10-5-1 relu, He seed 3, gd 0.01, 15000, 1 seed)
``#train``, ``#pause``,    buttons (``#pause`` reads "Resume" while paused); ``#step``: one update (from
``#step``, ``#reset``      idle it starts the run paused and does one)
``#speed``                 select: 10, 100, 1000, 10000 iterations per second or ``max``; a change paces the running run
``#reseed``, ``#restart``  buttons: a new random ``#seed`` and train; the same settings and seed again (same initial weights)
``#pin``, ``#unpin``       buttons: keep the run to compare (up to 4, ``#pinned`` holds one card each, side by side,
                           with a ``.unpin-one`` button; the newest card's ``#pinned-boundary``, ``#pinned-summary``); unpin all
``#export-pytorch``,       buttons: download the selected model as a runnable PyTorch / JAX script or as JSON
``#export-jax``,           (the server's ``export`` reply, named by its ``filename``)
``#export-json``
``#status``                text and ``data-status``: connecting, idle, training, paused, done, diverged, error, disconnected
``#error``                 the server's messages for bad values (the fields get class ``invalid``) and refused URL parameters
``#iteration-value``       ``done / total`` (of the selected model)
``#loss-value``,           train and test loss (4 decimals)
``#test-loss-value``
``#accuracy-value``,       train and test accuracy (3 decimals)
``#test-accuracy-value``
``#model``                 select: the model (seed) whose boundary, diagram and layers are shown (so does a click on its dot)
``#boundary``              canvas: the decision boundary per pixel, from the weights; ``#boundary-summary`` "one colour:
                           class 0 everywhere" or "two regions: 30% class 1"
``#network``               canvas: the diagram, each unit's square shaded by the function it computes; a residual
                           net's trunk (h_0 .. h_B) with a block strip above it (``initlabDraw.network``'s doc)
``#symmetry``              one line per layer: "layer 1: 1 distinct unit of 10 (symmetric)" (residual: the input
                           projection, runs of blocks with the same count, the head)
``#loss-chart``            canvas: the loss fan (median and band over the seeds) of the run and each pinned run
``#accuracy-chart``        canvas: one dot per seed and run; ``#spread`` "he_normal: train accuracy 54-100% over 8 seeds"
``#table``                 one row per run (current, pinned): init, seeds, train and test accuracy median [min-max], a comment
``#std-chart``             canvas: std of activations and gradient norm against depth (residual: against the block,
                           0 the input projection, with the branch's std too)
``#jacobian-chart``        canvas: histogram of the singular values of d(last hidden)/d(input) of every seed at
                           its current weights (log x axis, dashed line at s = 1; plain MLPs); ``#jacobian-summary``
                           "median s 0.85, 100% within 2x of 1, largest 0.94"
``#layers``                one ``.layer-row`` (``#layer-1``, ...) per layer: activation and gradient histograms
                           (residual: input projection, one row per block with its branch std and |branch|/|trunk|, head)
``#coord-widths``,         the coordinate check's settings (:mod:`~initlab.playground.coord`): text, 2 to 5 widths in
``#coord-steps``,          8..1024 (default ``64,128,256,512``); number 1..5 (3); number 1..8 (2); URL ``coord.widths``,
``#coord-seeds``           ``coord.steps``, ``coord.seeds`` (left out when at these defaults)
``#coord-run``             button: a coordinate check of the page's activation, depth (the hidden layers' count),
                           initializer and its options, parametrization and base width (empty: the narrowest width),
                           optimizer, learning rate, seed and data set (its first 128 training points), on the server
``#coord-status``          text and ``data-status``: idle, running, done, error
``#coord-error``           the server's refusal of a check (its fields, or the page's, get class ``invalid``)
``#coord-layer``           select: the layer drawn (default the output)
``#coord-chart``           canvas: mean |activation| against width, log-log, one line per step t = 0..T (the seeds'
                           geometric mean) and a band from the smallest to the largest seed
``#coord-summary``         the setting of the check in words and its time
``#coord-table``           one row per layer (``tr[data-layer="output"]``): the slope at init and after each step
                           (``td.slope``, its ``data-slope`` the seeds' mean; class ``blowup`` from coordcheck's
                           ``BLOWUP``), the reading in plain words (``td.reading``)
=========================  ==================================================================

``window.playground`` holds the last progress message (``last``: the selected model's ``weights``, per-layer
statistics, every model's numbers in ``models``), the run's ``config``, ``initial`` (the first message of the run:
its initial weights), the selected model's loss ``history``, every model's curves in ``fan``, the ``pinned`` runs,
``diagram`` (the unit rectangles ``initlabDraw.network`` returned; a residual net's adds ``blocks``), ``depth``
(what ``initlabDraw.depthChart`` returned), ``jacobian`` (what ``initlabDraw.jacobianChart`` returned: ``box``,
``lineX``, ``decades``, ``bars``), ``dots`` (where each accuracy dot is), ``coord`` (the last coordinate check's
reply) and ``coordChart`` (what ``initlabDraw.coordChart`` returned: ``box``, ``layer``, ``decades``, ``lines``).
The page's settings are in its URL (``?dataset=moons&hidden=8,8&init=random&opt.scale=3&seeds=8&speed=max``;
the short names of ``options()["aliases"]`` are accepted, e.g. ``?lr=0.1&k=8``; an unknown parameter is shown in
``#error`` and kept in the address), so a link reproduces them.
"""

from .config import LIMITS, NOTEBOOK, PlaygroundConfig, options, validate

__all__ = ["LIMITS", "NOTEBOOK", "PlaygroundConfig", "create_app", "options", "validate"]


def create_app(*args, **kwargs):
    """The ASGI application (:func:`initlab.playground.server.create_app`; imported lazily: starlette is the optional ``web`` extra)."""
    from .server import create_app as _create_app

    return _create_app(*args, **kwargs)
