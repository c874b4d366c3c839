"""``cart.import_excel``: the customer's order form in Excel becomes a priced cart.

The agreed layout of the workbook (``.xlsx``):

- The sheet named ``Order`` (or ``Заказ``); without one, the first sheet. Other sheets are ignored.
- A header row within the first 10 rows, naming the columns (any order, case ignored):
  ``Item`` / ``Артикул`` / ``Код`` (required), ``Quantity`` / ``Количество`` / ``Кол-во``
  (required), ``Unit`` / ``Ед.`` / ``Единица`` (optional).
- One cart line per row below it; empty rows are skipped. An item number may be text or a
  whole number; a quantity a number or text such as ``12,5``.
- Formulas are never evaluated: their value as Excel last saved it is used, and a formula
  without a saved value makes its row malformed. A merged cell belongs to its top-left cell.

The answer lists the priced lines and, separately, every row that was not taken, with its row
number and the reason: malformed (no item, no or a wrong quantity), unknown item, blocked item,
or out of stock (quantity above what the ERP has, when it keeps stock).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from schemas.base import CodeText, Params


class CartImportExcel(Params):
    """Params of ``cart.import_excel``."""

    customer: CodeText
    workbook: Annotated[
        str, Field(min_length=4, max_length=8_000_000, description="the .xlsx file, base64")
    ]
