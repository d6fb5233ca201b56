#include "certbridge/high.h"
#include "certbridge/low.h"
