"""The admin feature: cities, providers, users and their devices, fee policies,
service checklists and knowledge articles.

Routes: ``routes`` (cities, providers), ``user_routes`` (users, devices) and
``policy_routes`` (fee policies, checklists, knowledge articles); their rules in
``service`` and ``policy_service``; wire types in ``schemas``.
"""
