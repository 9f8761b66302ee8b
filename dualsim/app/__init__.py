"""The interactive page: step a :class:`~models.LearningSystem` by hand in the browser.

``dualsim app`` serves :data:`dualsim.app.page.Page` with Solara; in a notebook,
``make_page(AppModel(...))`` shows the same page inline (``notebooks/walkthrough.ipynb``).
Needs the ``viz`` extra (Solara, Mesa's visualization).
"""

from dualsim.app.page import AppModel, Page, make_page

__all__ = ["AppModel", "Page", "make_page"]
