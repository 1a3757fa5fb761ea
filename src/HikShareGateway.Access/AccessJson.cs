using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using HikShareGateway.Access.Grants;

namespace HikShareGateway.Access;

/// <summary>
/// The JSON this project writes, through source generation (NativeAOT and trimming: no reflection). Default options,
/// the same bytes as the reflection serializer wrote: JWS headers, token claims and grants messages.
/// </summary>
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(JsonObject))]
internal sealed partial class AccessJson : JsonSerializerContext;

/// <summary>The grants state file (indented, property names as declared, as before source generation).</summary>
[JsonSerializable(typeof(GrantsStore.PersistedGrants))]
[JsonSourceGenerationOptions(WriteIndented = true)]
internal sealed partial class GrantsStateJson : JsonSerializerContext;
