"""The sandbox server: ClaraVerse's provider API over the embedded store.

``reconcile serve`` runs it so that a team can try the whole GitOps flow locally, and so
that the ClaraVerse target is tested against a real HTTP server. It implements the
documented behaviour correctly (no resets, renames in place, visibility per provider, alias
updates, tiers by model) and answers in the shapes real ClaraVerse servers send
(``admin_routes``, ``catalog_routes`` and ``alias_routes`` say which).

- ``app.py``: the ASGI app (``create_app``): routes, authentication, bodies, errors.
- ``bodies.py``: request bodies, read within a size limit, parsed as bounded JSON.
- ``logins.py``: login attempts' budgets per account and per client address.
- ``context.py``: what a handler gets (``RouteCall``) and the helpers that read it.
- ``admin_routes.py``: providers, model fetch, model visibility.
- ``catalog_routes.py``: the model list, a model's settings, agents, tiers.
- ``alias_routes.py``: a model's aliases.
- ``user_routes.py``: login, refresh, the user's view of providers, users' own keys.
- ``accounts.py``: users, passwords, tokens and user keys, in tables the sandbox owns.
- ``run.py``: ``serve`` (uvicorn on a socket bound first) and the startup message.

Provider and model rows are read and written through the store's public API only
(``reconciler.targets.sqlite.Store``).

Routes (admin: an admin's access token; user: any access token)::

    POST   /api/auth/login                          {email, password}
    POST   /api/auth/refresh                        {refresh_token}
    GET    /api/admin/providers                     admin
    POST   /api/admin/providers                     admin   201, echoes api_key
    PUT    /api/admin/providers/{id}                admin   any subset; echoes api_key
    PUT    /api/admin/providers/{id}/toggle         admin   {enabled}; echoes api_key
    DELETE /api/admin/providers/{id}                admin   its models go with it
    POST   /api/admin/providers/{id}/fetch          admin   upstream listing via discovery
    GET    /api/admin/models                        admin   with every setting
    PUT    /api/admin/models/by-id?model_id=        admin   settings, camelCase or snake_case
    PUT    /api/admin/models/bulk/visibility        admin   {model_ids, visible, provider_id?}
    PUT    /api/admin/models/bulk/agents-enabled    admin   {model_ids, enabled, provider_id?}
    GET    /api/admin/models/by-id/aliases?model_id=          admin
    POST   /api/admin/models/by-id/aliases?model_id=          admin   {alias_name, provider_id, ...}
    PUT    /api/admin/models/by-id/aliases/{alias}?model_id=  admin   the fields given
    DELETE /api/admin/models/by-id/aliases/{alias}?provider_id= admin
    GET    /api/admin/tiers                         admin
    POST   /api/admin/models/by-id/tier?model_id=   admin   {provider_id, tier}
    DELETE /api/admin/models/by-id/tier             admin   {tier}
    GET    /api/providers                           user    enabled providers, visible models
    PUT    /api/user/providers/{id}/key             user    {api_key}: this user's own key
    DELETE /api/user/providers/{id}/key             user

No answer other than the admin key's echo in create, update and toggle ever contains a
key, and no log line does.

Hardened: a body is read only after its token is checked, and only up to 4 MiB (4 KiB on
the two auth routes; 413 beyond); failed logins are limited per account and per client
address (429 with ``Retry-After``); bad ids, bodies and JSON are 4xx, never 500.
"""
