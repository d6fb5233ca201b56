/* high */
#include "certbridge/low.h"
