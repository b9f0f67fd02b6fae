"""What every app's web forms share."""

from __future__ import annotations

from django import forms


class WebForm(forms.Form):
    """Labels without Django's trailing colon (Korean labels do not take one)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
