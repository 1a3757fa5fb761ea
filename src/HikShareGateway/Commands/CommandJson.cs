using System.Text.Json;
using System.Text.Json.Serialization;
using HikShareGateway.Http.Admin;

namespace HikShareGateway;

/// <summary>The commands' JSON through source generation (NativeAOT): web defaults, as the admin endpoint writes.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(StatusSnapshot))]
[JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class CommandJson : JsonSerializerContext;
