// Everything a user of the core needs: tensors, ops, autograd, gradcheck, printing.
#pragma once
#include "autograd/gradcheck.h"
#include "tensor/graph.h"
#include "tensor/creation.h"
#include "tensor/errors.h"
#include "tensor/ops.h"
#include "tensor/print.h"
#include "tensor/random.h"
#include "tensor/tensor.h"
#include "tensor/version.h"
