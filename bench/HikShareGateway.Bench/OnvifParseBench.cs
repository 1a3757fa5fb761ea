using System.Diagnostics;
using System.Globalization;
using System.Text;
using HikShareGateway.Onvif.Events;
using HikShareGateway.Onvif.Parsers;
using HikShareGateway.Onvif.Soap;

namespace HikShareGateway.Bench;

/// <summary>
/// ONVIF parse cost: GetProfiles of a 32-channel NVR (64 profiles) and a PullMessages batch of 32 motion events
/// mapped to alarms. Prints the median per call over a bounded number of rounds.
/// </summary>
public static class OnvifParseBench
{
    public static Task<int> RunAsync(string[] args)
    {
        var rounds = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 2000;
        var profiles = Envelope("xmlns:trt=\"http://www.onvif.org/ver10/media/wsdl\"", "<trt:GetProfilesResponse>" + string.Concat(Enumerable.Range(1, 32).SelectMany(c => new[]
        {
            Profile($"Profile_{c}01", c, 1920, 1080), Profile($"Profile_{c}02", c, 640, 360),
        })) + "</trt:GetProfilesResponse>");
        var pull = Envelope("xmlns:tev=\"http://www.onvif.org/ver10/events/wsdl\" xmlns:wsnt=\"http://docs.oasis-open.org/wsn/b-2\" xmlns:tns1=\"http://www.onvif.org/ver10/topics\"",
            "<tev:PullMessagesResponse><tev:CurrentTime>2026-11-25T10:00:00Z</tev:CurrentTime><tev:TerminationTime>2026-11-25T10:02:00Z</tev:TerminationTime>"
            + string.Concat(Enumerable.Range(1, 32).Select(c =>
                $"<wsnt:NotificationMessage><wsnt:Topic Dialect=\"http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet\">tns1:VideoSource/MotionAlarm</wsnt:Topic><wsnt:Message><tt:Message UtcTime=\"2026-11-25T10:00:00Z\" PropertyOperation=\"Changed\"><tt:Source><tt:SimpleItem Name=\"Source\" Value=\"VideoSource_{c}\"/></tt:Source><tt:Data><tt:SimpleItem Name=\"State\" Value=\"true\"/></tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage>"))
            + "</tev:PullMessagesResponse>");

        var p = Measure(rounds, () => MediaParsers.ParseProfiles(SoapEnvelope.ReadBody(profiles, "GetProfiles")).Count);
        var e = Measure(rounds, () =>
        {
            var n = 0;
            foreach (var m in EventParsers.ParsePullMessages(SoapEnvelope.ReadBody(pull, "PullMessages")).Messages)
            {
                n += AlarmMapping.TryMap(m, out _) ? 1 : 0;
            }
            return n;
        });
        Console.WriteLine($"onvif-parse: GetProfiles 32ch/64 profiles ({profiles.Length} B): median {p.TotalMicroseconds:0} µs/call");
        Console.WriteLine($"onvif-parse: PullMessages 32 events + alarm mapping ({pull.Length} B): median {e.TotalMicroseconds:0} µs/call");
        Console.WriteLine($"command: dotnet run -c Release --project bench/HikShareGateway.Bench -- onvif-parse {rounds}");
        return Task.FromResult(0);
    }

    private static TimeSpan Measure(int rounds, Func<int> body)
    {
        for (var i = 0; i < 200; i++)
        {
            body();
        }
        var samples = new double[rounds];
        for (var i = 0; i < rounds; i++)
        {
            var t = Stopwatch.GetTimestamp();
            body();
            samples[i] = Stopwatch.GetElapsedTime(t).TotalMicroseconds;
        }
        Array.Sort(samples);
        return TimeSpan.FromMicroseconds(samples[rounds / 2]);
    }

    private static string Profile(string token, int channel, int w, int h) =>
        $"<trt:Profiles token=\"{token}\" fixed=\"true\"><tt:Name>{token}</tt:Name><tt:VideoSourceConfiguration token=\"VSC_{channel}\"><tt:Name>V</tt:Name><tt:UseCount>2</tt:UseCount><tt:SourceToken>VideoSource_{channel}</tt:SourceToken><tt:Bounds x=\"0\" y=\"0\" width=\"1920\" height=\"1080\"/></tt:VideoSourceConfiguration>"
        + $"<tt:VideoEncoderConfiguration token=\"VE_{token}\"><tt:Name>E</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>H264</tt:Encoding><tt:Resolution><tt:Width>{w}</tt:Width><tt:Height>{h}</tt:Height></tt:Resolution><tt:Quality>3</tt:Quality></tt:VideoEncoderConfiguration></trt:Profiles>";

    private static byte[] Envelope(string ns, string body) => Encoding.UTF8.GetBytes(
        $"<?xml version=\"1.0\" encoding=\"UTF-8\"?><env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:tt=\"http://www.onvif.org/ver10/schema\" {ns}><env:Body>{body}</env:Body></env:Envelope>");
}
