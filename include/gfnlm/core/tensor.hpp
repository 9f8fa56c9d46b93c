#pragma once
// xtensor holds N-d host data; Eigen does the linear algebra through maps over that storage,
// so there is one copy of every tensor (DESIGN: division of labour).
#include <Eigen/Core>
#include <xtensor/xadapt.hpp>
#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>

#include <cstdint>

namespace gfnlm {

template <class T, std::size_t N>
using Tensor = xt::xtensor<T, N>;

template <class T>
using Vector = xt::xtensor<T, 1>;

template <class T>
using Matrix = xt::xtensor<T, 2>;

// Row-major Eigen views over contiguous storage.
template <class T>
using MatrixMap = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
template <class T>
using ConstMatrixMap =
    Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
template <class T>
using VectorMap = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>>;
template <class T>
using ConstVectorMap = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>;

}  // namespace gfnlm
