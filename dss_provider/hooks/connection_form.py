"""The connection form in the hook-method form Airflow 3.0 and 3.1 read, derived from the provider info.

From Airflow 3.2 the providers manager builds the form from the declarative ``conn-fields`` and
``ui-field-behaviour`` of :func:`~dss_provider.get_provider_info.get_provider_info` and skips the hook's
``get_connection_form_widgets()``/``get_ui_field_behaviour()`` (so no deprecation warning). Before 3.2
only those hook methods are read: :class:`~dss_provider.hooks.dss.DSSHook` answers them from here, from
the same declarative definition, so the two forms cannot drift apart.

The WTForms/Flask-AppBuilder names are imported only when Airflow asks for the form: the API server
puts its own stand-ins in their place (neither package is installed with Airflow 3).
"""

from __future__ import annotations

from typing import Any

from dss_provider.hooks.connection import CONN_TYPE


def _connection_type_info() -> dict[str, Any]:
    from dss_provider.get_provider_info import get_provider_info

    return next(c for c in get_provider_info()["connection-types"] if c["connection-type"] == CONN_TYPE)


def form_widgets() -> dict[str, Any]:
    """``get_connection_form_widgets()``: one WTForms field per ``conn-fields`` entry."""
    from flask_appbuilder.fieldwidgets import (
        BS3PasswordFieldWidget,
        BS3TextAreaFieldWidget,
        BS3TextFieldWidget,
    )
    from flask_babel import lazy_gettext
    from wtforms import BooleanField, IntegerField, PasswordField, StringField
    from wtforms.validators import Optional, any_of

    widgets: dict[str, Any] = {}
    for name, spec in _connection_type_info()["conn-fields"].items():
        schema = spec.get("schema", {})
        types = schema.get("type")
        kind = next(t for t in ([types] if isinstance(types, str) else types) if t != "null")
        options: dict[str, Any] = {"description": spec.get("description", "")}
        if "default" in schema:
            options["default"] = schema["default"]
        validators: list[Any] = [Optional()]
        if "enum" in schema:
            validators.append(any_of(schema["enum"]))
        if kind == "boolean":
            field = BooleanField(lazy_gettext(spec["label"]), **options)
        elif kind == "integer":
            field = IntegerField(
                lazy_gettext(spec["label"]), validators=validators, widget=BS3TextFieldWidget(), **options
            )
        elif schema.get("format") == "password":
            field = PasswordField(
                lazy_gettext(spec["label"]), validators=validators, widget=BS3PasswordFieldWidget(), **options
            )
        else:  # strings, numbers (seconds), JSON objects: a text field holds the default as text
            if "default" in options:
                options["default"] = str(options["default"])
            widget = BS3TextAreaFieldWidget() if schema.get("format") == "json" else BS3TextFieldWidget()
            field = StringField(lazy_gettext(spec["label"]), validators=validators, widget=widget, **options)
        widgets[name] = field
    return widgets


def field_behaviour() -> dict[str, Any]:
    """``get_ui_field_behaviour()``: the ``ui-field-behaviour`` entry with the hook method's key names."""
    behaviour = _connection_type_info()["ui-field-behaviour"]
    return {
        "hidden_fields": list(behaviour.get("hidden-fields", [])),
        "relabeling": dict(behaviour.get("relabeling", {})),
        "placeholders": dict(behaviour.get("placeholders", {})),
    }
