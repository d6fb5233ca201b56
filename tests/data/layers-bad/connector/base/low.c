#include "certbridge/low.h"
#include "certbridge/high.h"
