"""``python -m hsrcli`` runs the ``hsr`` command line (also under ``torchrun``)."""

from hsrcli.cli import main

if __name__ == "__main__":
    main()
