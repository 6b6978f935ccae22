// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title VeritasToken
/// @notice The ERC-20 that pays fees and backs stakes on a network that brings its own token.
/// A deployment may point the registry and settlement at any existing ERC-20 instead.
contract VeritasToken is ERC20 {
    constructor(address holder, uint256 supply) ERC20("Veritas", "VRT") {
        _mint(holder, supply);
    }
}
