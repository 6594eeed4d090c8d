"""The login form."""

from __future__ import annotations

from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import MaxLengthValidator


class LoginForm(AuthenticationForm):
    """Django's form sets the username field's max_length after construction, so the
    length is never validated and any string reaches ``authenticate()`` (and django-axes,
    which stores it in a 255-character column). Validate it here."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["username"]
        field.validators.append(MaxLengthValidator(field.max_length or 150))
