# A minimal module for the development container (docker-compose.dev.yml).
{
    "name": "My module",
    "version": "1.0",
    "depends": ["base"],
    "license": "LGPL-3",
    "installable": True,
}
