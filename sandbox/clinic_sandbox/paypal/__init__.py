"""The PayPal half of the sandbox: OAuth2 client credentials and Invoicing v2, in memory.

Example:
    state = PayPalState()
    app = create_paypal_app(state)          # serve with uvicorn or FastAPI's TestClient
    state.mark_paid(invoice_id)             # act "by hand", as a patient or the clinic would
"""

from .app import create_paypal_app
from .lifecycle import InvoicingRules
from .state import ApiCall, PayPalState

__all__ = ["ApiCall", "InvoicingRules", "PayPalState", "create_paypal_app"]
