// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

/// @title ModelRegistry
/// @notice Model versions by content id (the SHA-256 digest inside the CID): owner, name,
/// metadata URI and prices. A name's versions are listed in order of publication.
///
/// Prices are kept per publisher (`list`, `priceFrom`): each gateway lists what it charges for a
/// model, and only it can change that listing. Whoever publishes a model id first owns its
/// record, so a price read from the record alone could be set by a stranger who front-ran the
/// publication; a price read with `priceFrom(modelId, gateway, …)` cannot. The owner's listing
/// is also the price of contract requests (`priceOf`).
contract ModelRegistry {
    struct Model {
        address owner;
        string name;
        string metadataUri;
        uint256 pricePerRequest;
        uint256 pricePerToken;
        uint64 version;
    }

    /// What one publisher charges for one model.
    struct Listing {
        uint256 perRequest;
        uint256 perToken;
        bool listed;
    }

    mapping(bytes32 modelId => Model) private models;
    mapping(bytes32 modelId => mapping(address publisher => Listing)) private listings;
    mapping(bytes32 nameHash => address) public nameOwner;
    mapping(bytes32 nameHash => bytes32[]) private versions;

    event ModelPublished(bytes32 indexed modelId, string name, uint64 version, address indexed owner);
    event PricesChanged(bytes32 indexed modelId, uint256 pricePerRequest, uint256 pricePerToken);
    event Listed(bytes32 indexed modelId, address indexed publisher, uint256 perRequest, uint256 perToken);

    error AlreadyPublished(bytes32 modelId);
    error NotOwner(address caller, address owner);
    error UnknownModel(bytes32 modelId);
    error EmptyName();
    error NotListed(bytes32 modelId, address publisher);

    /// Publishes `modelId` as the next version of `name`; the first publisher owns the name. Also
    /// lists the publisher's prices for it (see `list`).
    function publish(
        bytes32 modelId,
        string calldata name,
        string calldata metadataUri,
        uint256 pricePerRequest,
        uint256 pricePerToken
    ) external returns (uint64 version) {
        if (bytes(name).length == 0) revert EmptyName();
        if (models[modelId].owner != address(0)) revert AlreadyPublished(modelId);
        bytes32 nameHash = keccak256(bytes(name));
        address owner = nameOwner[nameHash];
        if (owner == address(0)) {
            nameOwner[nameHash] = msg.sender;
        } else if (owner != msg.sender) {
            revert NotOwner(msg.sender, owner);
        }
        versions[nameHash].push(modelId);
        version = uint64(versions[nameHash].length);
        models[modelId] = Model(msg.sender, name, metadataUri, pricePerRequest, pricePerToken, version);
        emit ModelPublished(modelId, name, version, msg.sender);
        emit PricesChanged(modelId, pricePerRequest, pricePerToken);
        _list(modelId, pricePerRequest, pricePerToken);
    }

    /// The owner's new prices for its model: the record's (contract requests pay them) and the
    /// owner's listing.
    function setPrices(bytes32 modelId, uint256 pricePerRequest, uint256 pricePerToken) external {
        Model storage model = models[modelId];
        if (model.owner == address(0)) revert UnknownModel(modelId);
        if (model.owner != msg.sender) revert NotOwner(msg.sender, model.owner);
        model.pricePerRequest = pricePerRequest;
        model.pricePerToken = pricePerToken;
        emit PricesChanged(modelId, pricePerRequest, pricePerToken);
        _list(modelId, pricePerRequest, pricePerToken);
    }

    /// Lists (or re-lists) the caller's prices for `modelId`, which need not be published here.
    /// A listing is only ever written by its publisher, so nobody can set the prices another
    /// gateway charges. The model's owner listing its own model sets the record's prices too,
    /// so that `priceOf` is always the owner's listing.
    function list(bytes32 modelId, uint256 perRequest, uint256 perToken) external {
        Model storage model = models[modelId];
        if (model.owner == msg.sender) {
            model.pricePerRequest = perRequest;
            model.pricePerToken = perToken;
            emit PricesChanged(modelId, perRequest, perToken);
        }
        _list(modelId, perRequest, perToken);
    }

    function _list(bytes32 modelId, uint256 perRequest, uint256 perToken) private {
        listings[modelId][msg.sender] = Listing(perRequest, perToken, true);
        emit Listed(modelId, msg.sender, perRequest, perToken);
    }

    /// `publisher`'s listing for `modelId`; `listed` is false if it never listed one.
    function listingOf(bytes32 modelId, address publisher) external view returns (Listing memory) {
        return listings[modelId][publisher];
    }

    /// The fee `publisher` charges for one request to `modelId` producing `tokens` tokens.
    /// Reverts `NotListed` without a listing, and on overflow (checked arithmetic), so that no
    /// caller is quoted a price that wrapped around.
    function priceFrom(bytes32 modelId, address publisher, uint256 tokens) external view returns (uint256) {
        Listing storage listing = listings[modelId][publisher];
        if (!listing.listed) revert NotListed(modelId, publisher);
        return listing.perRequest + listing.perToken * tokens;
    }

    function modelOf(bytes32 modelId) external view returns (Model memory) {
        Model memory model = models[modelId];
        if (model.owner == address(0)) revert UnknownModel(modelId);
        return model;
    }

    /// The fee of one request producing `tokens` tokens (zero for non-LLM models) at the owner's
    /// prices: what contract requests pay.
    function priceOf(bytes32 modelId, uint256 tokens) external view returns (uint256) {
        Model storage model = models[modelId];
        if (model.owner == address(0)) revert UnknownModel(modelId);
        return model.pricePerRequest + model.pricePerToken * tokens;
    }

    function versionsOf(string calldata name) external view returns (bytes32[] memory) {
        return versions[keccak256(bytes(name))];
    }
}
