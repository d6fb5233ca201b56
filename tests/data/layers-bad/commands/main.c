#include "certbridge/stray.h"
