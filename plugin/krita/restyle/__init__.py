"""Restyle for Krita 5: neural style transfer of the active layer by a local Restyle server.

Registers the Restyle docker (Settings > Dockers > Restyle) and an action that
shows it (Tools > Scripts > Restyle). The restyle itself is `job.RestyleRun`
(and `job.restyle_layer` for scripts), which needs no user interface.
"""

from krita import DockWidgetFactory, DockWidgetFactoryBase, Krita

from .docker import DOCKER_ID, RestyleDocker, ShowDockerExtension

_app = Krita.instance()
_app.addDockWidgetFactory(
    DockWidgetFactory(DOCKER_ID, DockWidgetFactoryBase.DockRight, RestyleDocker))
_app.addExtension(ShowDockerExtension(_app))
