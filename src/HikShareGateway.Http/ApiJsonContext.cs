using System.Text.Json;
using System.Text.Json.Serialization;
using HikShareGateway.Http.Admin;
using HikShareGateway.Http.Ptz;
using HikShareGateway.Http.Recordings;
using HikShareGateway.Http.WebApp;

namespace HikShareGateway.Http;

/// <summary>
/// Every body the HTTP API writes, through source generation (NativeAOT and trimming: no reflection): web defaults
/// (camelCase), nulls written unless a property says otherwise. A new response type gets a line here.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(ProblemDocument))]
[JsonSerializable(typeof(Readiness))]
[JsonSerializable(typeof(DeviceList))]
[JsonSerializable(typeof(EventsEndpoint.AlarmPayload))]
[JsonSerializable(typeof(StatusSnapshot))]
[JsonSerializable(typeof(RtspCredentialList))]
[JsonSerializable(typeof(RecordingList))]
[JsonSerializable(typeof(WebAppConfig))]
[JsonSerializable(typeof(PtzMoved))]
[JsonSerializable(typeof(PtzEnded))]
[JsonSerializable(typeof(PtzMoving))]
[JsonSerializable(typeof(PtzStopped))]
[JsonSerializable(typeof(PtzPresetList))]
[JsonSerializable(typeof(PtzGoingToPreset))]
[JsonSerializable(typeof(HikShareGateway.Http.Whep.PlaybackPosition))]
internal sealed partial class ApiJsonContext : JsonSerializerContext;
