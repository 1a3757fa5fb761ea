using System.Xml.Linq;
using HikShareGateway.Core.Devices;
using HikShareGateway.Onvif.Soap;

namespace HikShareGateway.Onvif.Parsers;

public sealed record OnvifRecording(string Token, string? SourceName, DateTimeOffset? Earliest, DateTimeOffset? Latest)
{
    /// <summary><c>Source/SourceId</c>: what the recording records (often a video source token or a profile address).</summary>
    public string? SourceId { get; init; }
}

/// <summary>Pure parsers of Profile G (Search ver10, Recording ver10, Replay ver10) responses, for playback.</summary>
public static class RecordingParsers
{
    public static string ParseFindRecordings(XElement body)
    {
        var r = SoapEnvelope.Expect(body, Ns.Tse + "FindRecordingsResponse", "FindRecordings");
        return r.Text("SearchToken") ?? throw new DeviceException(DeviceErrorKind.Failed, "FindRecordings: the device returned no SearchToken.");
    }

    /// <returns>The recordings found and whether the search is complete (<c>SearchState</c> Completed).</returns>
    public static (IReadOnlyList<OnvifRecording> Recordings, bool Completed) ParseRecordingSearchResults(XElement body)
    {
        var r = SoapEnvelope.Expect(body, Ns.Tse + "GetRecordingSearchResultsResponse", "GetRecordingSearchResults");
        var list = r.Child("ResultList");
        var recordings = list.Children("RecordingInformation")
            .Select(i => (Token: i.Text("RecordingToken"), Info: i))
            .Where(t => t.Token is not null)
            .Select(t => new OnvifRecording(t.Token!, t.Info.Text("Source", "Name"), Xml.Time(t.Info.Text("EarliestRecording")), Xml.Time(t.Info.Text("LatestRecording")))
            {
                SourceId = t.Info.Text("Source", "SourceId"),
            })
            .ToList();
        return (recordings, list.Text("SearchState") == "Completed");
    }

    public static IReadOnlyList<OnvifRecording> ParseRecordings(XElement body)
    {
        var r = SoapEnvelope.Expect(body, Ns.Trc + "GetRecordingsResponse", "GetRecordings");
        return [.. r.Children("RecordingItem")
            .Where(i => i.Text("RecordingToken") is not null)
            .Select(i => new OnvifRecording(i.Text("RecordingToken")!, i.Text("Configuration", "Source", "Name"), null, null))];
    }

    public static Uri ParseReplayUri(XElement body)
    {
        var r = SoapEnvelope.Expect(body, Ns.Trp + "GetReplayUriResponse", "GetReplayUri");
        return Xml.AbsoluteUri(r.Text("Uri")) ?? throw new DeviceException(DeviceErrorKind.Failed, "GetReplayUri: the device returned no absolute URI.");
    }
}
