# Runs one ruby filter's init and code over events, the way logstash-filter-ruby 3.1
# (lib/logstash/filters/ruby.rb) does: init evaluated once in the filter's binding, code as a
# method of the same object, so instance variables set by init are visible to code. An
# exception is caught and the event tagged with tag_on_exception, as the plugin does.
#
# stdin: {"init": str|null, "code": str, "tag_on_exception": str, "events": [hash, ...]}
# stdout: [{"event": hash with "@metadata", "exception": str|null}, ...]

require_relative "logstash_shim"

class RubyFilterUnderTest
  def initialize(init, code)
    eval(init, binding, "(ruby filter init)") if init
    eval("define_singleton_method :filter_method do |event, &new_event_block|\n #{code} \nend",
         binding, "(ruby filter code)")
  end

  def run(event)
    filter_method(event) { |_| raise "new_event_block is not supported by the test runner" }
    nil
  rescue Exception => e # rubocop:disable Lint/RescueException -- as the plugin does
    e
  end
end

def plain(value)
  case value
  when Hash then value.transform_values { |v| plain(v) }
  when Array then value.map { |v| plain(v) }
  when LogStash::Timestamp then value.to_s
  else value
  end
end

request = JSON.parse($stdin.read)
filter = RubyFilterUnderTest.new(request["init"], request["code"])
results = request["events"].map do |data|
  event = LogStash::Event.new(data)
  error = filter.run(event)
  event.tag(request["tag_on_exception"] || "_rubyexception") if error
  { "event" => plain(event.to_hash_with_metadata), "exception" => error && "#{error.class}: #{error.message}" }
end
$stdout.write(JSON.generate(results))
