"""The deploy of Dr.Gero to a Google Cloud project: ``python -m infra.deploy`` (``make deploy``,
``make deploy-plan``, ``make deploy-check``)."""
