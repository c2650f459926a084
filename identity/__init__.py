"""Identity: users (email login), roles and `resource:action` permissions, JWT sessions,
and each user's notification inbox (MongoDB), which every app may write to."""
