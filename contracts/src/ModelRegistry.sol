// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

/// @title ModelRegistry
/// @notice Model versions by content id (the SHA-256 digest inside the CID): owner, name,
/// metadata URI and prices. A name's versions are listed in order of publication.
contract ModelRegistry {
    struct Model {
        address owner;
        string name;
        string metadataUri;
        uint256 pricePerRequest;
        uint256 pricePerToken;
        uint64 version;
    }

    mapping(bytes32 modelId => Model) private models;
    mapping(bytes32 nameHash => address) public nameOwner;
    mapping(bytes32 nameHash => bytes32[]) private versions;

    event ModelPublished(bytes32 indexed modelId, string name, uint64 version, address indexed owner);
    event PricesChanged(bytes32 indexed modelId, uint256 pricePerRequest, uint256 pricePerToken);

    error AlreadyPublished(bytes32 modelId);
    error NotOwner(address caller, address owner);
    error UnknownModel(bytes32 modelId);
    error EmptyName();

    /// Publishes `modelId` as the next version of `name`; the first publisher owns the name.
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
    }

    function setPrices(bytes32 modelId, uint256 pricePerRequest, uint256 pricePerToken) external {
        Model storage model = models[modelId];
        if (model.owner == address(0)) revert UnknownModel(modelId);
        if (model.owner != msg.sender) revert NotOwner(msg.sender, model.owner);
        model.pricePerRequest = pricePerRequest;
        model.pricePerToken = pricePerToken;
        emit PricesChanged(modelId, pricePerRequest, pricePerToken);
    }

    function modelOf(bytes32 modelId) external view returns (Model memory) {
        Model memory model = models[modelId];
        if (model.owner == address(0)) revert UnknownModel(modelId);
        return model;
    }

    /// The fee of one request producing `tokens` tokens (zero for non-LLM models).
    function priceOf(bytes32 modelId, uint256 tokens) external view returns (uint256) {
        Model storage model = models[modelId];
        if (model.owner == address(0)) revert UnknownModel(modelId);
        return model.pricePerRequest + model.pricePerToken * tokens;
    }

    function versionsOf(string calldata name) external view returns (bytes32[] memory) {
        return versions[keccak256(bytes(name))];
    }
}
