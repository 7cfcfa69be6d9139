from .homology import SHARED_UNITS, Homology, get_homology, unit_correspondence
